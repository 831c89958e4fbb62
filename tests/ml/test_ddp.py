"""DistributedDataParallel training with 2 CPU processes (gloo backend on 127.0.0.1)."""

from __future__ import annotations

import numpy as np
import torch
from ml_helpers import ddp_train

from km3flow.ml.ddp import run_distributed


def test_two_process_training_keeps_ranks_in_sync(workdir):
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
