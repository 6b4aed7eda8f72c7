"""Just enough of ONNX's protobuf wire format to find a model's weight bytes (the `onnx` package is not installed)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

INT8, UINT8 = 3, 2  # TensorProto.DataType


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A base-128 varint at `at`: (value, offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end or varint value) of each field between start and end."""
    at = start
    while at < end:
        tag, at = _varint(data, at)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield field, wire, value, at
        elif wire == 2:
            length, at = _varint(data, at)
            yield field, wire, at, at + length
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire}")


def weights(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, data type) of every graph initializer's raw_data in a serialised ModelProto."""
    found = []
    for field, wire, a, b in _fields(data, 0, len(data)):
        if field == 7 and wire == 2:  # ModelProto.graph
            for gf, gw, ga, gb in _fields(data, a, b):
                if gf == 5 and gw == 2:  # GraphProto.initializer
                    dtype, raw = 0, None
                    for tf, tw, ta, tb in _fields(data, ga, gb):
                        if tf == 2 and tw == 0:
                            dtype = ta
                        elif tf == 9 and tw == 2:
                            raw = (ta, tb)
                    if raw is not None:
                        found.append((raw[0], raw[1], dtype))
    return found


def scrambled(data: bytes, seed: int = 0) -> bytes:
    """The model with each large int8 weight tensor's values shuffled: it loads and runs, and recognises worse."""
    out = bytearray(data)
    rng = np.random.default_rng(seed)
    for start, end, dtype in weights(data):
        if dtype in (INT8, UINT8) and end - start > 1024:
            out[start:end] = rng.permutation(np.frombuffer(data[start:end], np.uint8)).tobytes()
    return bytes(out)
