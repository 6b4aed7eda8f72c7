"""Tests of edge/scale/pricing/."""
