"""Prices on the shelves: which product each label shows, the push queue, the pusher, the price audit trail, the demo catalogue, and rendering."""
