"""The table schema: one set of columns and dtypes per table from every reader, documented fills."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from km3flow.dataclasses import TEMPLATES
from km3flow.dataclasses.schema import (
    FILL_U4,
    FILL_U8,
    FITINF_COLUMNS,
    KM3PIPE_NAMES,
    SCHEMAS,
    describe_fills,
    fill_for,
    log_fills,
)
from km3flow.logger import get_logger


def test_fill_values_by_kind():
    assert math.isnan(fill_for("<f8")) and math.isnan(fill_for("<f4"))
    assert fill_for("<i4") == fill_for("<i8") == -1
    assert (fill_for("u1"), fill_for("<u4"), fill_for("<u8")) == (255, FILL_U4, FILL_U8)
    assert fill_for("?") is False
    with pytest.raises(ValueError, match="no fill defined"):
        fill_for("S4")


def test_every_schema_is_a_template_and_fills_its_dtype():
    assert set(TEMPLATES) == set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        assert TEMPLATES[name]["dtype"] == schema.dtype
        assert TEMPLATES[name]["h5loc"] == schema.h5loc
        assert all(c.doc for c in schema.columns), name  # every column is documented
        rows = schema.filled(3)
        assert rows.dtype == schema.dtype and len(rows) == 3
        for col in schema.columns:
            assert schema.is_fill(rows[col.name], col.name).all(), (name, col.name)
        with pytest.raises(ValueError):  # the shared fill row cannot be changed by accident
            schema.fill_row[0] = schema.fill_row[0]


def test_event_info_has_event_id_and_mc_track_status_everywhere():
    info = SCHEMAS["EventInfo"]
    assert info.names[-2:] == ("event_id", "mc_run_id") and len(info.names) == 19
    assert info.fill("event_id") == -1 and info.fill("utc_seconds") == FILL_U8
    assert SCHEMAS["McTracks"].names[-2:] == ("status", "mother_id")
    assert SCHEMAS["McHits"].dtype["origin"] == np.dtype("<i4")


def test_tracks_carry_every_fitinf_column():
    from km3flow.io.root.definitions import FITINF_INDEX

    tracks = SCHEMAS["Tracks"]
    assert len(FITINF_COLUMNS) == len(FITINF_INDEX) == 26
    assert tracks.names[-26:] == FITINF_COLUMNS
    assert all(tracks.dtype[c] == np.dtype("<f8") for c in FITINF_COLUMNS)
    assert KM3PIPE_NAMES["Tracks"]["JGANDALF_CHI2"] == "jgandalf_chi2"


def test_describe_and_log_fills(capsys):
    text = describe_fills({"EventInfo": ["mc_t", "event_id", "utc_seconds"],
                           "McTracks": ["status"]})
    assert text == ("EventInfo.event_id = -1, EventInfo.utc_seconds = max, "
                    "EventInfo.mc_t = NaN, McTracks.status = -1")
    log = get_logger("test_schema_fills")
    log.setLevel(logging.INFO)
    log_fills(log, {"EventInfo": ["mc_t"], "Hits": []}, "not in X files (x.dat)")
    log_fills(log, {"Hits": []}, "nothing")  # nothing filled: no line
    err = capsys.readouterr().err
    assert err.count("filled") == 1
    assert "INFO ++ test_schema_fills: filled EventInfo.mc_t = NaN: not in X files (x.dat)" in err


def test_docs_list_every_column_with_its_dtype():
    text = (Path(__file__).parents[2] / "docs" / "schema.md").read_text()
    sections = text.split("\n### ")[1:]
    documented = {sec.split("\n", 1)[0].strip(): sec for sec in sections}
    assert set(documented) == set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        section = documented[name]
        assert f"`{schema.h5loc}`" in section, name
        for col in schema.columns:
            dtype = np.dtype(col.dtype).str + (f" ×{col.shape[0]}" if col.shape else "")
            assert f"| `{col.name}` | `{dtype}` |" in section, (name, col.name)
