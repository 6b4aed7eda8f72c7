"""Tests of the Bumble backend's PAwR layer (devices/esl/bumble): HCI packets, host API, virtual controller and link."""
