"""Small reference models for the examples, tests and the GPU check (imports torch).

``km3flow train … --model km3flow.ml.models:small_cnn`` builds :func:`small_cnn` with the
image shapes of the inputs and the sizes of the configured outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn


class SmallCNN(nn.Module):
    """A tiny convolutional network: one image input → one or more regression outputs.

    Parameters
    ----------
    input_shape
        Image shape without the batch axis (2-D or 3-D; a channel axis is added).
    output_sizes
        ``{output name: number of values}``; returns a dict of tensors.
    channels
        Feature maps of the convolution.
    dropout
        Dropout probability before the heads (exercises the RNG in resume tests).
    """

    def __init__(self, input_shape: tuple[int, ...], output_sizes: Mapping[str, int],
                 channels: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}.get(len(input_shape))
        pool = {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}.get(len(input_shape))
        if conv is None:
            raise ValueError(f"SmallCNN takes 2-D or 3-D images, got shape {input_shape}")
        self.features = nn.Sequential(
            conv(1, channels, kernel_size=3, padding=1), nn.ReLU(),
            pool((4,) * len(input_shape)), nn.Flatten(),
        )
        n_flat = channels * 4 ** len(input_shape)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({k: nn.Linear(n_flat, v) for k, v in output_sizes.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # log1p tames hit counts spanning orders of magnitude
        h = self.dropout(self.features(torch.log1p(x.unsqueeze(1))))
        return {k: head(h) for k, head in self.heads.items()}


def small_cnn(input_shapes: Mapping[str, tuple[int, ...]],
              output_sizes: Mapping[str, int]) -> SmallCNN:
    """Factory for ``--model``: a :class:`SmallCNN` for the (single) input."""
    if len(input_shapes) != 1:
        raise ValueError(f"small_cnn takes one input, got {list(input_shapes)}")
    torch.manual_seed(0)
    return SmallCNN(tuple(next(iter(input_shapes.values()))), output_sizes)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad))
