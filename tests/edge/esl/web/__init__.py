"""Tests of the esl job's status-page queries."""
