"""Tests of the shelf-label renderer."""
