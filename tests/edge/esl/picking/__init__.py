"""Tests of picking: pick lights on the simulated fleet and the walk planner."""
