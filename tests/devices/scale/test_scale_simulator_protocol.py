"""The simulators answer the reference's byte formats exactly (raw pyserial on the pty, no driver)."""

from __future__ import annotations

import time

import pytest
import serial

from devices.scale.simulator import MtSicsSimulator, Toledo8217Simulator


def _settle(sim, seconds: float = 0.3) -> None:
    """Let the fast model settle (0.8 s simulated at ×4)."""
    time.sleep(seconds)


@pytest.fixture
def sics(mtsics_sim: MtSicsSimulator):
    """A raw pyserial port on the MT-SICS simulator."""
    with serial.Serial(mtsics_sim.path, 9600, timeout=2) as port:
        yield port


def _ask(port: serial.Serial, command: bytes) -> bytes:
    """Send a command, return the one reply line."""
    port.reset_input_buffer()
    port.write(command)
    return port.readline()


def test_mtsics_weight_and_errors(mtsics_sim: MtSicsSimulator, sics: serial.Serial) -> None:
    mtsics_sim.model.place(735)
    _settle(mtsics_sim)
    assert _ask(sics, b"SI\r\n") == b"S S      0.735 kg\r\n"
    assert _ask(sics, b"S\r\n") == b"S S      0.735 kg\r\n"
    assert _ask(sics, b"XYZ\r\n") == b"ES\r\n"
    assert _ask(sics, b"Z 12\r\n") == b"EL\r\n"
    assert _ask(sics, b"S\xc9\r\n") == b"ET\r\n"
    assert _ask(sics, b"S\x00\r\n") == b"ET\r\n"
    assert _ask(sics, b"@\r\n") == b'I4 A "0123456789"\r\n'
    assert _ask(sics, b"TA\r\n") == b"TA A      0.000 kg\r\n"
    assert _ask(sics, b"TA 0.005 kg\r\n") == b"TA A      0.005 kg\r\n"
    assert _ask(sics, b"TA x kg\r\n") == b"TA L\r\n"
    assert _ask(sics, b"TAC\r\n") == b"TAC A\r\n"


def test_mtsics_i0_lists_commands_multiline(sics: serial.Serial) -> None:
    sics.write(b"I0\r\n")
    lines = [sics.readline() for _ in range(16)]
    assert all(line.startswith(b"I0 B ") for line in lines[:-1])
    assert lines[-1] == b'I0 A 1 "TAC"\r\n' and lines[0] == b'I0 B 0 "@"\r\n'


def test_mtsics_s_times_out_with_i_while_vibrating(mtsics_sim: MtSicsSimulator, sics: serial.Serial) -> None:
    mtsics_sim.stability_timeout_s = 0.4
    mtsics_sim.model.vibration_g = 10.0
    assert _ask(sics, b"S\r\n") == b"S I\r\n"
    assert _ask(sics, b"Z\r\n") == b"Z I\r\n"
    assert _ask(sics, b"SI\r\n").startswith(b"S D ")


def test_mtsics_sir_streams_until_at(mtsics_sim: MtSicsSimulator, sics: serial.Serial) -> None:
    sics.write(b"SIR\r\n")
    lines = [sics.readline() for _ in range(3)]
    assert all(line.startswith(b"S S ") for line in lines)
    sics.write(b"@\r\n")
    time.sleep(0.1)
    sics.reset_input_buffer()
    time.sleep(0.2)
    assert sics.in_waiting == 0


def test_mtsics_gram_unit() -> None:
    with MtSicsSimulator(unit="g") as sim, serial.Serial(sim.path, timeout=2) as port:
        sim.model.place(100)
        port.write(b"I2\r\n")
        assert port.readline() == b'I2 A "SIM-SICS 15000 g"\r\n'


@pytest.fixture
def toledo(toledo_sim: Toledo8217Simulator):
    """A raw pyserial port on the 8217 simulator."""
    with serial.Serial(toledo_sim.path, 9600, timeout=2) as port:
        yield port


def _frame(port: serial.Serial, command: bytes) -> bytes:
    """Send a command, return bytes up to the reply's CR."""
    port.reset_input_buffer()
    port.write(command)
    return port.read_until(b"\r")


def test_8217_frames_are_7_bit(toledo_sim: Toledo8217Simulator, toledo: serial.Serial) -> None:
    assert _frame(toledo, b"W") == b"\x0200.000\r"
    toledo_sim.model.place(735)
    moving = _frame(toledo, b"W")
    assert moving[:2] == b"\x02?" and moving[2] & 0x41 == 0x41 and moving[3:] == b"\r"  # ?A or ?Q
    _settle(toledo_sim)
    toledo_sim.garbage_rate = 1.0
    toledo.reset_input_buffer()
    toledo.write(b"W")
    time.sleep(0.1)
    raw = toledo.read(toledo.in_waiting)
    assert raw.endswith(b"\x0200.735\r") and all(b < 0x80 for b in raw)


def test_8217_echo_probe_like_odoo(toledo: serial.Serial) -> None:
    toledo.write(b"Ehello")
    assert toledo.read(8) == b"\x02E\rhello"
    toledo.write(b"F")
    assert _frame(toledo, b"W") == b"\x0200.000\r"


def test_8217_confidence_test_and_tare_status(toledo_sim: Toledo8217Simulator, toledo: serial.Serial) -> None:
    assert _frame(toledo, b"A") == b"\x02\r"
    assert _frame(toledo, b"B") == b"\x02?@\r"
    toledo_sim.model.place(300)
    _settle(toledo_sim)
    status = _frame(toledo, b"T")
    assert status[:2] == b"\x02?" and status[2] & 0x20  # net bit after taring
    assert _frame(toledo, b"W") == b"\x0200.000N\r"
    assert _frame(toledo, b"T00050\r")[2] & 0x20
    assert _frame(toledo, b"W") == b"\x0200.250N\r"
