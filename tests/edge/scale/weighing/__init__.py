"""Tests of edge/scale/weighing/."""
