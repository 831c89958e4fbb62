"""``km3flow summarize``: two real tiny trainings plotted into one figure."""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.cli.main import main
from km3flow.exceptions import ConfigError, FormatError
from km3flow.ml.compare import plot_runs
from km3flow.ml.summary import parse_summary


@pytest.fixture
def two_runs(workdir):
    """Two one-epoch trainings of the small CNN with different learning rates."""
    runs = []
    for k, lr in enumerate(("0.003", "0.0003")):
        cfg = workdir / f"config{k}.toml"
        cfg.write_text((workdir / "config.toml").read_text()
                       .replace("lr = 0.003", f"lr = {lr}"))
        out = workdir / f"run_lr{lr}"
        rc = main(["-q", "train", str(workdir / "list.toml"), str(cfg), "--model",
                   "km3flow.ml.models:small_cnn", "--output", str(out), "--epochs", "1",
                   "--no-progress"])
        assert rc == 0
        runs.append(out)
    return runs


def test_two_runs_in_one_figure(two_runs, tmp_path, capsys):
    runs = plot_runs(two_runs, tmp_path / "compare.pdf", labels=["fast", "slow"])
    assert (tmp_path / "compare.pdf").read_bytes()[:5] == b"%PDF-"
    for r, folder in zip(runs, two_runs):
        data = parse_summary(folder / "summary.txt")
        assert len(r.data) == len(data) == 2      # two summary points in the epoch
        assert r.best_val_loss == pytest.approx(np.nanmin(data["val_loss"]))
    assert [r.label for r in runs] == ["fast", "slow"]
    assert runs[0].best_val_loss != runs[1].best_val_loss
    # the subcommand: a PNG of the loss only, and one line per run
    png = tmp_path / "loss.png"
    assert main(["summarize", *map(str, two_runs), "-o", str(png), "--metric", "loss"]) == 0
    out = capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "run_lr0.003: 2 summary points" in out and "best val_loss" in out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_summarize_errors(two_runs, tmp_path, capsys):
    with pytest.raises(FormatError, match="no summary.txt"):
        plot_runs([two_runs[0], tmp_path], tmp_path / "x.pdf")
    with pytest.raises(ConfigError, match="no run has the quantity 'acc'"):
        plot_runs(two_runs, tmp_path / "x.pdf", metrics=["acc"])
    with pytest.raises(ConfigError, match=".pdf, .png or .svg"):
        plot_runs(two_runs, tmp_path / "x.jpeg")
    with pytest.raises(ConfigError, match="1 labels for 2"):
        plot_runs(two_runs, tmp_path / "x.pdf", labels=["one"])
    assert main(["summarize", str(tmp_path), "-o", str(tmp_path / "y.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("km3flow summarize: error:") and "no summary.txt" in err
    assert not (tmp_path / "y.pdf").exists()
