"""Tests of fleet health: cold chain, alert rule, daily report and battery sweep."""
