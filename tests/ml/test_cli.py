"""The ``km3flow bin`` and ``km3flow train`` subcommands, run through the CLI dispatcher."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tables

from km3flow.cli.main import main

from ml_files import SOURCE, TRAIN_CONFIG

BIN_TOML = """
[binning]
time_reference = "first_triggered"
chunk_events = 64
[[dimensions]]
column = "channel_id"
categories = "auto"
[[dimensions]]
column = "time"
range = [-200.0, 800.0]
bins = 10
[labels]
columns = ["dir_x", "dir_y", "dir_z"]
"""


def test_bin_then_train_from_the_shell(tmp_path, testdata, capsys):
    (tmp_path / "bin.toml").write_text(BIN_TOML)
    rc = main(["bin", str(tmp_path / "bin.toml"), testdata(SOURCE),
               "-o", str(tmp_path / "train.h5")])
    assert rc == 0
    assert "binned 500 events into images of shape (31, 10)" in capsys.readouterr().out
    with tables.open_file(str(tmp_path / "train.h5")) as h5:
        x, y = h5.root.x[:], h5.root.y[:]
    assert x.shape == (500, 31, 10) and y.dtype.names == ("dir_x", "dir_y", "dir_z",
                                                          "group_id")
    # every hit of event 0 inside the time window is counted once (hits read separately)
    with tables.open_file(testdata(SOURCE)) as h5:
        n = int(h5.root.hits._indices[0]["n_items"])
        t, trig = h5.root.hits.time[:n], h5.root.hits.triggered[:n]
    t = t - t[trig != 0].min()
    assert x[0].sum() == np.count_nonzero((t >= -200) & (t <= 800))
    (tmp_path / "list.toml").write_text(
        "[input xy]\ntrain_files = ['train.h5']\nvalidation_files = ['train.h5']\n")
    (tmp_path / "config.toml").write_text(
        TRAIN_CONFIG.format(plot="false").replace("epochs = 2", "epochs = 1")
        .replace("batch_size = 16", "batch_size = 250"))
    rc = main(["train", str(tmp_path / "list.toml"), str(tmp_path / "config.toml"),
               "--model", "km3flow.ml.models:small_cnn", "--output", str(tmp_path / "out"),
               "--no-progress", "--predict"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "epoch 1: train_loss" in out and "pred_train.h5" in out
    assert (tmp_path / "out" / "checkpoints" / "epoch_0001.pt").is_file()


def test_bad_list_file_is_a_config_error(tmp_path, capsys):
    (tmp_path / "list.toml").write_text("[input xy]\ntrain_files = ['nope.h5']\n")
    rc = main(["train", str(tmp_path / "list.toml"), str(tmp_path / "c.toml"),
               "--model", "x:y", "--output", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "km3flow train: error:" in err and "nope.h5 does not exist" in err


def test_import_km3flow_ml_does_not_import_torch():
    code = ("import sys, km3flow.ml, km3flow.ml.binning, km3flow.ml.dataset, "
            "km3flow.ml.config, km3flow.ml.organizer, km3flow.cli.train, km3flow.cli.bin; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize("cmd", ["bin", "train"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_bin_with_workers_matches_serial(tmp_path, testdata, capsys):
    (tmp_path / "bin.toml").write_text(BIN_TOML)
    inputs = []
    for k in range(2):
        inputs.append(str(tmp_path / f"in{k}.h5"))
        shutil.copy(testdata(SOURCE), inputs[-1])
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    assert main(["bin", str(tmp_path / "bin.toml"), *inputs, "-o", str(serial)]) == 0
    assert main(["bin", str(tmp_path / "bin.toml"), *inputs, "-o", str(parallel),
                 "--workers", "2"]) == 0
    assert "binned 1000 events" in capsys.readouterr().out
    with tables.open_file(str(serial)) as a, tables.open_file(str(parallel)) as b:
        assert np.array_equal(a.root.x[:], b.root.x[:])
        assert np.array_equal(a.root.y[:], b.root.y[:])
