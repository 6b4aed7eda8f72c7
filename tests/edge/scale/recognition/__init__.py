"""Tests of edge/scale/recognition/."""
