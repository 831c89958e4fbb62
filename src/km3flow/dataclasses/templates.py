"""Named dtype templates of the common KM3NeT tables, with their HDF5 location and split mode.

The field names and types follow the tables KM3Pipe has written since 2016, so files written
by km3flow line up column for column with existing ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_POS_DIR = [
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("dir_x", "<f8"), ("dir_y", "<f8"), ("dir_z", "<f8"),
]

TEMPLATES: dict[str, dict[str, Any]] = {
    "Hits": {
        "dtype": np.dtype([
            ("channel_id", "u1"), ("dom_id", "<u4"), ("time", "<f8"),
            ("tot", "u1"), ("triggered", "?"),
        ]),
        "h5loc": "/hits",
        "split_h5": True,
        "h5singleton": False,
    },
    "CalibHits": {
        "dtype": np.dtype([
            ("channel_id", "u1"), ("dom_id", "<u4"), ("time", "<f8"),
            ("tot", "u1"), ("triggered", "?"), *_POS_DIR, ("t0", "<f8"),
        ]),
        "h5loc": "/hits",
        "split_h5": True,
        "h5singleton": False,
    },
    "McHits": {
        "dtype": np.dtype([
            ("a", "<f4"), ("origin", "<u4"), ("pmt_id", "<u4"), ("time", "<f8"),
        ]),
        "h5loc": "/mc_hits",
        "split_h5": True,
        "h5singleton": False,
    },
    "CalibMcHits": {
        "dtype": np.dtype([
            ("a", "<f4"), ("origin", "<u4"), ("pmt_id", "<u4"), ("time", "<f8"), *_POS_DIR,
        ]),
        "h5loc": "/mc_hits",
        "split_h5": True,
        "h5singleton": False,
    },
    "TimesliceHits": {
        "dtype": np.dtype([
            ("channel_id", "u1"), ("dom_id", "<u4"), ("time", "<u4"), ("tot", "u1"),
        ]),
        "h5loc": "/timeslice_hits",
        "split_h5": True,
        "h5singleton": False,
    },
    "Tracks": {
        "dtype": np.dtype([
            *_POS_DIR[3:], ("energy", "<f8"), ("id", "<u4"), ("length", "<f8"),
            ("likelihood", "<f8"), *_POS_DIR[:3], ("time", "<f8"), ("type", "<i4"),
        ]),
        "h5loc": "/tracks",
        "split_h5": False,
        "h5singleton": False,
    },
    "McTracks": {
        "dtype": np.dtype([
            *_POS_DIR[3:], ("energy", "<f8"), ("id", "<u4"), ("length", "<f8"),
            *_POS_DIR[:3], ("time", "<f8"), ("type", "<i4"),
        ]),
        "h5loc": "/mc_tracks",
        "split_h5": False,
        "h5singleton": False,
    },
    "EventInfo": {
        "dtype": np.dtype([
            ("det_id", "<i4"), ("frame_index", "<u4"), ("livetime_sec", "<u8"),
            ("mc_id", "<i4"), ("mc_t", "<f8"), ("n_events_gen", "<u8"),
            ("n_files_gen", "<u8"), ("overlays", "<u4"), ("trigger_counter", "<u8"),
            ("trigger_mask", "<u8"), ("utc_nanoseconds", "<u8"), ("utc_seconds", "<u8"),
            ("weight_w1", "<f8"), ("weight_w2", "<f8"), ("weight_w3", "<f8"),
            ("weight_w4", "<f8"), ("run_id", "<u8"),
        ]),
        "h5loc": "/event_info",
        "split_h5": False,
        "h5singleton": False,
    },
    "SummarysliceInfo": {
        "dtype": np.dtype([
            ("frame_index", "<u4"), ("slice_id", "<u4"), ("timestamp", "<u4"),
            ("nanoseconds", "<u4"), ("n_frames", "<u4"),
        ]),
        "h5loc": "/summaryslice_info",
        "split_h5": False,
        "h5singleton": False,
    },
    "TimesliceInfo": {
        "dtype": np.dtype([
            ("frame_index", "<u4"), ("slice_id", "<u4"), ("timestamp", "<u4"),
            ("nanoseconds", "<u4"), ("n_frames", "<u4"),
        ]),
        "h5loc": "/timeslice_info",
        "split_h5": False,
        "h5singleton": False,
    },
}
