"""Bluetooth SIG Electronic Shelf Label driver: codec, access point over bleak, GATT-level simulator."""
