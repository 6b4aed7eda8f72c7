"""Prices on the shelves: which product each label shows, the push queue, the pusher, the price audit trail, the label content check
the catalogue runs (`content_rules.py`), the demo catalogue, and rendering."""
