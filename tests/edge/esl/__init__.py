"""Tests of the shelf-label renderer (edge.esl)."""
