"""Bumble host stack with our PAwR layer and the ESL access point on it.

HCI packets (`hci.py`), host API (`host.py`), the emulating controller and indexed link
(`controller.py`, `link.py`), train layout (`train.py`), subevent scheduler (`scheduler.py`),
connect pacing (`connects.py`), awaiting Bumble without losing a cancel (`cancel.py`), the
connected-mode client (`central.py`), the access point and several of them (`ap.py`, `aps.py`),
the virtual tag and store (`tag.py`, `store.py`), hardware controllers (`hardware.py`,
`transport.py`).
"""
