"""TMCH monitoring packets of IO_MONIT.dat.

Expected values from KM3Pipe 11.0.0 ``TMCHRepump`` (its own test_daq.py and
``benchmarks/daq_reference.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.daq import TMCHPump, parse_packet, read_monitoring


def test_monitoring_matches_km3pipe(testdata):
    mon = read_monitoring(testdata("daq/IO_MONIT.dat"))
    assert len(mon) == 6 and mon.h5loc == "/monitoring"
    assert set(mon.run) == {86} and set(mon.udp_sequence_number) == {0}
    assert list(mon.utc_seconds) == [541] * 5 + [542]
    assert list(mon.nanoseconds) == [500000000, 600000000, 700000000, 800000000,
                                     900000000, 0]
    assert set(mon.dom_id) == {806472270} and set(mon.version) == {2}
    assert mon.yaw[0] == pytest.approx(199.05982971191406)
    assert mon.pitch[0] == pytest.approx(0.5397617816925049)
    assert mon.roll[0] == pytest.approx(-0.2243121862411499)
    assert mon.temp[0] == pytest.approx(32.35) and mon.humidity[0] == pytest.approx(16.77)
    np.testing.assert_allclose(mon.pmt_rates, 0)
    np.testing.assert_allclose(mon.A[0], [0.00708725, 0.00213623, -0.86456668], rtol=1e-5)
    np.testing.assert_allclose(mon.H[0], [-0.2621212, 0.02363636, 0.1430303], rtol=1e-5)
    np.testing.assert_allclose(mon.G[0], [-2.87721825, -0.83284622, -0.28969574], rtol=1e-5)
    assert set(mon.ts_duration_ms) == {100000}
    assert mon.dom_status[0][0] == 0x80000000
    pump = TMCHPump(filename=testdata("daq/IO_MONIT.dat"))
    assert len(pump) == 6 and pump[5]["TMCHData"].utc_seconds[0] == 542


def test_monitoring_bad_input(testdata):
    with open(testdata("daq/IO_MONIT.dat"), "rb") as fobj:
        data = fobj.read()
    rng = np.random.default_rng(3)
    for cut in sorted(set(rng.integers(1, len(data), 40).tolist())):
        if cut % 248 == 0:
            assert len(read_monitoring(data[:cut])) == cut // 248
            continue
        with pytest.raises(FormatError):
            read_monitoring(data[:cut])
    for _ in range(60):
        corrupt = bytearray(data)
        corrupt[int(rng.integers(0, len(data)))] ^= 0xFF
        try:
            read_monitoring(bytes(corrupt))
        except FormatError as err:
            assert err.offset is not None
    with pytest.raises(FormatError, match="IO_EVT.dat: at byte 4: expected the TMCH marker"):
        read_monitoring(testdata("daq/IO_EVT.dat"))


def test_one_packet_as_on_controlhost(testdata):
    """An IO_MONIT message is one TMCH packet without the dump's length prefix."""
    with open(testdata("daq/IO_MONIT.dat"), "rb") as fobj:
        data = fobj.read()
    whole = read_monitoring(data)
    rows = []
    pos = 0
    while pos < len(data):
        (length,) = np.frombuffer(data[pos:pos + 4], "<u4")
        rows.append(parse_packet(data[pos + 4:pos + 4 + int(length)]))
        pos += 4 + int(length)
    assert len(rows) == 6 and all(len(r) == 1 for r in rows)
    for name in whole.dtype.names:
        np.testing.assert_array_equal(np.concatenate([r[name] for r in rows]), whole[name])
    # the real bytes of the first packet (offsets within the packet, big-endian):
    # temp 0x0ca3 at 220 → 32.35 °C, humidity 0x068d at 222 → 16.77 %, then tdcfull,
    # aesfull, flushc 0, and 0x000186a0 = 100000 at 236 (ts_duration_ms as KM3Pipe names it)
    packet = data[4:248]
    assert packet[220:224] == bytes.fromhex("0ca3068d")
    assert packet[236:240] == bytes.fromhex("000186a0")
    assert rows[0].temp[0] == 32.35 and rows[0].humidity[0] == 16.77
    assert rows[0].ts_duration_ms[0] == 100000
    # a dump-style payload (length-prefixed packets) is accepted too
    assert len(parse_packet(data[:496])) == 2


def test_bad_controlhost_payloads(testdata):
    with open(testdata("daq/IO_MONIT.dat"), "rb") as fobj:
        packet = fobj.read()[4:248]
    with pytest.raises(FormatError, match="ControlHost message: at byte 100: expected a TMCH "
                                          "packet of at least 236 bytes, got 100"):
        parse_packet(packet[:100])
    with pytest.raises(FormatError, match="expected a TMCH monitoring packet"):
        parse_packet(b"IO_EVT-like payload")
    with pytest.raises(FormatError, match="expected a TMCH monitoring packet"):
        parse_packet(b"")
