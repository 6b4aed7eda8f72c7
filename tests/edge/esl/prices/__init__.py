"""Tests of prices on the shelves: bindings, the push queue and the pusher."""
