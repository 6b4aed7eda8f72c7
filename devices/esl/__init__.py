"""Bluetooth SIG Electronic Shelf Label driver: codec, the AP interface (`radio.py`), one client sequence for both
backends (`client.py`: onboarding, commands, OTS upload), the access point over bleak, PAwR on Bumble (`bumble/`),
and the tag simulator."""
