"""``km3flow convert/info --lenient``: EVT files with malformed lines (a mutated copy of
km3net-testdata's KM3Sim.evt) stop a strict run with the line named, and convert with one
warning per file in lenient mode."""

from pathlib import Path

import numpy as np
import tables

from km3flow.cli.main import main


def _mutated(testdata, tmp_path) -> tuple[Path, int]:
    lines = Path(testdata("evt/KM3Sim.evt")).read_bytes().split(b"\n")
    hits = [k for k, ln in enumerate(lines) if ln.startswith(b"hit:")]
    k = int(np.random.default_rng(4).choice(hits))
    lines[k] = b" ".join(lines[k].split()[:3])  # 'hit: id pmt_id': 2 of 9 values
    path = tmp_path / "bad_hits.evt"
    path.write_bytes(b"\n".join(lines))
    return path, k + 1


def test_convert_strict_then_lenient(testdata, tmp_path, capsys):
    path, line = _mutated(testdata, tmp_path)
    assert main(["convert", str(path), "-o", str(tmp_path / "strict.h5"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"bad_hits.evt: line {line}: expected 9 values" in err and "'hit' line, got 2" in err
    out = tmp_path / "lenient.h5"
    assert main(["convert", str(path), "-o", str(out), "--no-progress", "--lenient"]) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1
    assert ("bad lines dropped (strict=False), 1 in all: hit: 1 (wrong number of values "
            f"(lines {line}))") in err
    with tables.open_file(str(out)) as f:
        assert f.root.mc_hits.pmt_id.nrows == 98 - 1  # KM3Sim.evt holds 98 hits


def test_info_lenient(testdata, tmp_path, capsys):
    path, line = _mutated(testdata, tmp_path)
    assert main(["info", str(path)]) == 2
    assert f"line {line}" in capsys.readouterr().err
    assert main(["info", "--lenient", str(path)]) == 0
    captured = capsys.readouterr()
    assert "McHits: 97 rows" in captured.out
    assert f"(lines {line})" in captured.err
