"""Tests of the radio: the per-label serialiser."""
