"""GATT UUIDs of the ESL service and of the Object Transfer Service, as full 128-bit strings for bleak."""

from __future__ import annotations


def uuid16(short: int) -> str:
    """Expand a SIG 16-bit UUID onto the Bluetooth base UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


ESL_SERVICE = uuid16(0x1857)
ESL_ADDRESS = uuid16(0x2BF6)
AP_SYNC_KEY_MATERIAL = uuid16(0x2BF7)
ESL_RESPONSE_KEY_MATERIAL = uuid16(0x2BF8)
ESL_CURRENT_ABSOLUTE_TIME = uuid16(0x2BF9)
DISPLAY_INFORMATION = uuid16(0x2BFA)
IMAGE_INFORMATION = uuid16(0x2BFB)
SENSOR_INFORMATION = uuid16(0x2BFC)
LED_INFORMATION = uuid16(0x2BFD)
ESL_CONTROL_POINT = uuid16(0x2BFE)

OTS_SERVICE = uuid16(0x1825)
OTS_OBJECT_SIZE = uuid16(0x2AC0)
OTS_OBJECT_ID = uuid16(0x2AC3)
OTS_OACP = uuid16(0x2AC5)
OTS_OLCP = uuid16(0x2AC6)
