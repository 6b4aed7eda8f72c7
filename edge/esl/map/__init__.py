"""The store map: shelves and walkways, label positioning from anchor scans, planogram compliance and the map picture."""
