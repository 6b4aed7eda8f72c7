"""Tests of the store map, positioning, the planogram and the map picture."""
