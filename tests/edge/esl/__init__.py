"""Tests of the esl job: one folder per feature, and the in-process daemon kit (jobkit.py)."""
