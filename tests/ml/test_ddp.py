"""DistributedDataParallel training with 2 CPU processes (gloo backend on 127.0.0.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ml_files import read_xy
from ml_helpers import ddp_train

from km3flow.ml.models import SmallCNN

from km3flow.ml.ddp import run_distributed


def test_two_process_training_keeps_ranks_in_sync(workdir):
    config = workdir / "config.toml"
    config.write_text(config.read_text().replace('metrics = ["mae"]',
                                                 'metrics = ["mae", "resolution"]'))
    run_distributed(ddp_train, 2, args=(workdir, (31, 20)), backend="gloo")
    w0 = torch.load(workdir / "weights_rank0.pt")
    w1 = torch.load(workdir / "weights_rank1.pt")
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k  # DDP averaged the gradients of both ranks
    out = workdir / "out"
    summary = (out / "summary.txt").read_text().splitlines()
    assert len(summary) == 2 + 4  # one writer (rank 0): 2 epochs × 2 summary lines
    # 160 samples in blocks of 32, 5 blocks shared out 3/2 → 4 batches per rank and epoch
    log = (out / "train_log" / "epoch_0001.txt").read_text().splitlines()
    assert len(log) == 1 + 4
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == [
        "epoch_0001.pt", "epoch_0002.pt"]
    data = np.array([[float(v) for v in ln.split("|")] for ln in summary[2:]])
    assert np.isfinite(data[:, 2:]).all()
    # the pooled metric gathers the predictions of both ranks: the last validation's
    # resolution is that of the final weights on all 48 validation events
    assert [c.strip() for c in summary[0].split("|")][-2:] == ["train_resolution",
                                                                "val_resolution"]
    model = SmallCNN((31, 20), {"dir": 3})
    model.load_state_dict(w0)
    x, y = read_xy(workdir / "val.h5")
    with torch.no_grad():
        pred = model.eval()(torch.from_numpy(x).float())["dir"].double()
    true = torch.from_numpy(np.stack([y["dir_x"], y["dir_y"], y["dir_z"]], 1)).double()
    cos = (pred / pred.norm(dim=1, keepdim=True) * true / true.norm(dim=1, keepdim=True)).sum(1)
    angle = torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))
    assert data[-1, -1] == pytest.approx(float(torch.quantile(angle, 0.68)), rel=1e-3)
