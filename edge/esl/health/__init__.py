"""Health of the label fleet: fridge cold chain (polling, alert rule, daily report) and the battery sweep."""
