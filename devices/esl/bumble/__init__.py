"""Bumble host stack with our PAwR layer: HCI packets, host API, virtual controller and link, transport setting."""
