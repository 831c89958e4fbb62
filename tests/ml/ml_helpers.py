"""Callables named as 'module:callable' in the organiser tests' configs and DDP workers."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from km3flow.ml.models import SmallCNN


def high_energy(y):
    """Label modifier: a binary 'muon energy above 100 GeV' target."""
    return {"he": (np.asarray(y["energy"]) > 100.0).astype(np.float32)[:, None]}


def stack_inputs(x):
    """Sample modifier: two inputs stacked into channels."""
    return np.stack([x["a"], x["b"]], axis=1)


class TwoInputNet(nn.Module):
    """Model taking {'a': images, 'b': images}."""

    def __init__(self, shape):
        super().__init__()
        n = int(np.prod(shape))
        self.a = nn.Linear(n, 3)
        self.b = nn.Linear(n, 3)

    def forward(self, x):
        return self.a(torch.log1p(x["a"]).flatten(1)) + self.b(torch.log1p(x["b"]).flatten(1))


class InterruptingCNN(SmallCNN):
    """A SmallCNN that raises KeyboardInterrupt on its n-th training forward call."""

    def __init__(self, *args, stop_after=10**9, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.stop_after = stop_after

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls > self.stop_after:
                raise KeyboardInterrupt
        return super().forward(x)


def ddp_train(rank, folder, shape):
    """DDP worker: train 2 epochs, then save this rank's final weights."""
    from km3flow.ml import Organizer

    torch.manual_seed(0)
    model = SmallCNN(shape, {"dir": 3})
    org = Organizer(folder / "out", folder / "list.toml", folder / "config.toml")
    org.progress = False
    org.train_and_validate(model)
    torch.save(model.state_dict(), folder / f"weights_rank{rank}.pt")
