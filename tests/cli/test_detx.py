"""Tests of ``km3flow detx`` on real detector files (counts as KM3Pipe 11.0.0 reports them).

The subcommand module is driven through its own parser (``add_arguments``/``run``), the way
``km3flow.cli.main`` dispatches to it.
"""

from __future__ import annotations

import argparse
import json

import pytest

from km3flow.cli import detx
from km3flow.exceptions import FormatError
from km3flow.io.detector import read_detector


def main(argv):
    assert argv[0] == "detx"
    parser = argparse.ArgumentParser(prog="km3flow detx", description="summarise a detector "
                                     "file (DETX/DATX)")
    detx.add_arguments(parser)
    return detx.run(parser.parse_args(argv[1:]))


def test_detx_summary(testdata, capsys):
    assert main(["detx", testdata("detx/detx_v5.detx")]) == 0
    out = capsys.readouterr().out
    assert "DETX v5, detector id 49" in out
    assert "DUs: 6   floors: 19   DOMs: 114 (108 optical, 6 base modules)   PMTs: 3348" in out
    assert "valid: 2020-01-26 16:30:00 UTC .. open" in out
    assert "UTM reference: UTM WGS84 32N 256500.0 4743000.0 -2441.5" in out


def test_detx_json_and_dus(testdata, capsys):
    assert main(["detx", "--json", "--dus", testdata("datx/KM3NeT_00000133_20221025.datx")]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["format"], s["det_id"], s["n_dus"], s["n_doms"], s["n_pmts"]) == (
        "DATX", 133, 21, 399, 11718)
    assert sum(row["n_pmts"] for row in s["dus"]) == 11718


def test_detx_convert(testdata, tmp_path, capsys):
    out = tmp_path / "v3.datx"
    assert main(["detx", testdata("detx/detx_v3.detx"), "-o", str(out)]) == 0
    assert read_detector(out).n_pmts == 18
    v1 = tmp_path / "v1.detx"
    assert main(["detx", testdata("detx/detx_v2.detx"), "-o", str(v1),
                 "--detx-version", "1"]) == 0
    assert read_detector(v1).version == 1


def test_detx_bad_file(testdata):
    with pytest.raises(FormatError, match=r"KM3Sim.evt: line 1: expected a DETX header"):
        main(["detx", testdata("evt/KM3Sim.evt")])


def test_help(capsys):
    with pytest.raises(SystemExit):
        main(["detx", "--help"])
    assert ".detx or .datx detector file" in capsys.readouterr().out


def test_detx_json_is_strict_without_validity_gh11(testdata, capsys):
    assert main(["detx", "--json", testdata("detx/detx_v1.detx")]) == 0
    text = capsys.readouterr().out

    def reject(constant):
        raise AssertionError(f"{constant} is not JSON")

    summary = json.loads(text, parse_constant=reject)
    assert summary["valid_from"] is None and summary["valid_until"] is None
    assert "NaN" not in text and "Infinity" not in text


def test_strict_dumps_turns_every_non_finite_into_null():
    import numpy as np

    from km3flow.cli._json import strict_dumps

    value = {"a": float("nan"), "b": [1.5, float("inf"), np.float32("-inf")],
             "c": np.array([np.nan, 2.0]), "d": np.int64(3), "e": "NaN"}
    assert strict_dumps(value) == ('{"a": null, "b": [1.5, null, null], "c": [null, 2.0], '
                                   '"d": 3, "e": "NaN"}')
