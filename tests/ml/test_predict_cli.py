"""``km3flow predict RUN FILE…`` on a real tiny training (the model rebuilt from run.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tables
import torch
from ml_files import read_xy

from km3flow.cli.main import main
from km3flow.ml.models import small_cnn
from km3flow.ml.split import split_files
from km3flow.ml.training import load_checkpoint


@pytest.fixture
def run(workdir):
    """A two-epoch training started by 'km3flow train' (which writes run.json)."""
    out = workdir / "run"
    rc = main(["-q", "train", str(workdir / "list.toml"), str(workdir / "config.toml"),
               "--model", "km3flow.ml.models:small_cnn", "--output", str(out),
               "--no-progress"])
    assert rc == 0
    return out


def _expected(run, epoch, x):
    """The predictions of the checkpoint's weights, computed here directly."""
    info = json.loads((run / "run.json").read_text())
    model = small_cnn(**info["model_kwargs"])
    model.load_state_dict(load_checkpoint(run / "checkpoints" / f"epoch_{epoch:04d}.pt")
                          ["model"])
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32))["dir"].numpy()


def test_predict_whole_files_with_any_epoch(run, workdir, capsys):
    info = json.loads((run / "run.json").read_text())
    assert info["model"] == "km3flow.ml.models:small_cnn"
    assert info["model_kwargs"] == {"input_shapes": {"xy": [31, 20]},
                                    "output_sizes": {"dir": 3}}
    assert (run / "run_config.toml").read_text() == (workdir / "config.toml").read_text()
    val = workdir / "val.h5"
    # the latest epoch (2) by default, chunked in batches of 5 events
    assert main(["predict", str(run), str(val), str(workdir / "train.h5"),
                 "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    pred_file = run / "predictions" / "epoch_0002" / "pred_val.h5"
    assert f"predictions (epoch 2): {pred_file}" in out
    x, y = read_xy(val)
    with tables.open_file(str(pred_file)) as h5:
        pred, labels = h5.root.pred[:], h5.root.y[:]
    assert len(pred) == len(x) == 48
    assert np.array_equal(labels["dir_x"], y["dir_x"])            # next to the labels
    assert np.array_equal(pred["group_id"], labels["group_id"])
    got = np.stack([pred["pred_dir_x"], pred["pred_dir_y"], pred["pred_dir_z"]], axis=1)
    np.testing.assert_allclose(got, _expected(run, 2, x), rtol=1e-5, atol=1e-6)
    # the model of epoch 1 gives other numbers, into another folder
    assert main(["-q", "predict", str(run), str(val), "--epoch", "1"]) == 0
    with tables.open_file(str(run / "predictions" / "epoch_0001" / "pred_val.h5")) as h5:
        first = h5.root.pred[:]
    got1 = np.stack([first["pred_dir_x"], first["pred_dir_y"], first["pred_dir_z"]], axis=1)
    np.testing.assert_allclose(got1, _expected(run, 1, x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got1, got)
    # existing predictions are kept unless --overwrite
    assert main(["predict", str(run), str(val)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["-q", "predict", str(run), str(val), "--overwrite"]) == 0


def test_predict_the_test_set_of_a_split(run, workdir, tmp_path, capsys):
    # a list file with a test set, as km3flow split writes it, recorded by a second run
    split = split_files([workdir / "train.h5", workdir / "val.h5"], workdir / "split.toml",
                        fractions=[0.5, 0.0, 0.5], seed=1)
    (test_file,) = split["files"]["test"]
    out = tmp_path / "run2"
    assert main(["-q", "train", str(workdir / "split.toml"), str(workdir / "config.toml"),
                 "--model", "km3flow.ml.models:small_cnn", "--output", str(out),
                 "--epochs", "1", "--no-progress"]) == 0
    assert main(["predict", str(out), "--set", "test", "-o", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / f"pred_{test_file.name}").is_file()
    capsys.readouterr()


def test_predict_errors(run, workdir, tmp_path, capsys):
    val = str(workdir / "val.h5")
    cases = [
        (["predict", str(run), val, "--epoch", "7"], "no checkpoint of epoch 7"),
        (["predict", str(run)], "either FILEs or --set"),
        (["predict", str(tmp_path), val], "run.json: missing"),
        (["predict", str(run), str(workdir / "list.toml")], "not an HDF5 file"),
        (["train", str(workdir / "list.toml"), str(workdir / "config.toml"), "--model",
          "km3flow.ml.models:n_parameters", "--output", str(run)],
         "trained with --model km3flow.ml.models:small_cnn"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
