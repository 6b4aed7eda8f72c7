"""Tests of the Bluetooth ESL driver (devices/esl)."""
