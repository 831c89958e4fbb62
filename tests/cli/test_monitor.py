"""`km3flow monitor` options and its one-line errors (the live runs are in tests/monitor)."""

from __future__ import annotations

import pytest

from km3flow.cli.main import main


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--detector", "--http-host", "--http-port", "--history", "--token"):
        assert option in out


def test_errors_before_serving(capsys, tmp_path, testdata):
    assert main(["monitor", "--http-host", "0.0.0.0"]) == 2
    assert "give --token" in capsys.readouterr().err
    assert main(["monitor", "--detector", str(tmp_path / "none.detx")]) == 2
    assert "none.detx" in capsys.readouterr().err
    bad = tmp_path / "bad.h5"
    bad.write_text("not HDF5")
    assert main(["monitor", "--history", str(bad), "--http-port", "0"]) == 2
    assert "bad.h5: cannot read the monitor history" in capsys.readouterr().err
    assert main(["monitor", "--interval", "0"]) == 2
    assert "--interval" in capsys.readouterr().err
