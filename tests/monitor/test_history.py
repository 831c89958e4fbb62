"""The history file: per-second rows through HDF5Sink, checkpoints, reading back."""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.controlhost.replay import iter_daq_frames
from km3flow.exceptions import FormatError
from km3flow.io.daq import parse_frame
from km3flow.monitor.history import (
    HistoryWriter,
    read_history,
    rows_to_bins,
    rows_to_dom_history,
)
from km3flow.monitor.state import MonitorState


def _fill(state, testdata, clock):
    path = testdata("daq/IO_SUM.dat")
    for _, _, f in iter_daq_frames(path):
        state.add_summaryslice(parse_frame(f, path=str(path))["Summaryslice"])
        clock[0] += 1
    path = testdata("daq/IO_EVT.dat")
    for _, _, f in iter_daq_frames(path):
        ev = parse_frame(f, path=str(path))
        state.add_event(ev["EventInfo"], ev["Hits"], ev["TriggeredHits"])
    clock[0] += 1
    state.tick()


def test_history_round_trip_and_restore(testdata, tmp_path):
    import time

    clock = [float(int(time.time())) - 100]
    state = MonitorState(clock=lambda: clock[0])
    path = tmp_path / "history.h5"
    writer = HistoryWriter(path, checkpoint_s=1e9)
    state.on_second.append(writer.write)
    _fill(state, testdata, clock)
    writer.checkpoint()  # a complete file while writing goes on
    assert path.exists() and writer.checkpoints == 1
    trig, doms = read_history(path)
    assert len(trig) == len(state.history) and trig["events"].sum() == 3
    clock[0] += 2
    state.tick()
    writer.close()
    trig, doms = read_history(path)
    assert len(trig) == len(state.history)  # the checkpoint's rows are not written twice
    np.testing.assert_array_equal(trig["time"], [r["time"] for r in state.history])
    # per second: the DOM rates at its end
    last_t, last_ids, last_rates = state.dom_history[-1]
    at_end = doms[doms["time"] == last_t]
    np.testing.assert_array_equal(at_end["dom_id"], last_ids)
    np.testing.assert_allclose(at_end["rate_hz"], last_rates)
    # a new state restores the bins and the DOM history
    again = MonitorState(clock=lambda: clock[0])
    again.restore(rows_to_bins(trig), rows_to_dom_history(doms))
    assert [r["events"] for r in again.history] == [r["events"] for r in state.history]
    assert [r["bits"] for r in again.history] == [r["bits"] for r in state.history]
    assert len(again.dom_history) == len(state.dom_history)
    # the next writer carries the old rows over
    writer = HistoryWriter(path)
    writer.close()
    trig2, doms2 = read_history(path)
    np.testing.assert_array_equal(trig2, trig)
    np.testing.assert_array_equal(doms2, doms)


def test_history_of_other_files_is_refused(testdata, tmp_path):
    not_h5 = tmp_path / "not.h5"
    not_h5.write_bytes(b"\x89HDF\r\n" + bytes(100))
    with pytest.raises(FormatError, match="not.h5: cannot read the monitor history"):
        read_history(not_h5)
    import tables as tb

    odd = tmp_path / "odd.h5"
    with tb.open_file(odd, "w") as h5:
        h5.create_table("/monitor", "dom_rates", np.zeros(2, [("time", "f8")]),
                        createparents=True)
    with pytest.raises(FormatError, match="odd.h5: /monitor/dom_rates: missing columns dom_id"):
        read_history(odd)
