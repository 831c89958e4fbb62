"""Reference models: a small CNN for images and an EdgeConv graph network for point clouds.

``km3flow train … --model km3flow.ml.models:small_cnn`` builds :func:`small_cnn` with the
image shapes of the inputs and the sizes of the configured outputs;
``--model km3flow.ml.models:edgeconv_net`` builds :func:`edgeconv_net` for a point-cloud input
(its columns name the coordinates of the neighbour search). Importing this module imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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
        if conv is None or pool is None:
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


# -- graph networks on point clouds -----------------------------------------------------------

LIGHTSPEED_WATER = 0.2254  # m/ns: scales hit times into metres for the neighbour search


def _points_and_mask(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(x, Mapping):
        if "points" not in x:  # {input name: {"points", "mask"}}: one point input
            if len(x) != 1:
                raise ValueError(f"a point-cloud model takes one input, got {list(x)}")
            x = next(iter(x.values()))
        return x["points"], x["mask"].bool()
    if isinstance(x, (tuple, list)):
        return x[0], x[1].bool()
    return x, torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)


def knn(coords: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest valid neighbours of every point of a padded batch.

    Parameters
    ----------
    coords
        ``(B, N, C)`` coordinates.
    mask
        ``(B, N)`` True for real points (padding is never a neighbour).
    k
        Neighbours per point; events with fewer points get fewer valid neighbours.

    Returns
    -------
    index, valid
        ``(B, N, k')`` neighbour indices (``k' = min(k, N - 1)``) and whether each is a
        real neighbour (False for padding and for missing neighbours of small events).

    Examples
    --------
    >>> pts = torch.tensor([[[0.0], [1.0], [5.0], [0.0]]])
    >>> idx, ok = knn(pts, torch.tensor([[True, True, True, False]]), 1)
    >>> idx[0, :3, 0].tolist(), ok[0, :, 0].tolist()
    ([1, 0, 1], [True, True, True, False])
    """
    n = coords.shape[1]
    kk = max(0, min(int(k), n - 1))
    # squared distances, |a|^2 + |b|^2 - 2ab is faster than cdist for small C
    sq = (coords * coords).sum(-1)
    d = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * coords @ coords.transpose(1, 2)
    eye = torch.eye(n, dtype=torch.bool, device=coords.device)
    d = d.masked_fill(~mask.unsqueeze(1) | eye, float("inf"))
    dist, idx = d.topk(kk, dim=-1, largest=False, sorted=True)
    valid = torch.isfinite(dist) & mask.unsqueeze(-1)
    return idx, valid


class MaskedBatchNorm(nn.Module):
    """Batch normalisation of point features over the real points only (padding stays 0)."""

    running_mean: torch.Tensor  # buffers (register_buffer)
    running_var: torch.Tensor

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(n_features))
        self.bias = nn.Parameter(torch.zeros(n_features))
        self.register_buffer("running_mean", torch.zeros(n_features))
        self.register_buffer("running_var", torch.ones(n_features))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training and bool(mask.any()):
            sel = x[mask]
            mean, var = sel.mean(0), sel.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        out = (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return out * mask.unsqueeze(-1)


class EdgeConv(nn.Module):
    """One EdgeConv block (DGCNN/ParticleNet): MLP on (x_i, x_j - x_i) over the k
    nearest neighbours, averaged over the real neighbours, plus a linear shortcut."""

    def __init__(self, n_in: int, widths: tuple[int, ...], k: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        last = 2 * n_in
        for w in widths:
            layers += [nn.Linear(last, w), nn.ReLU()]
            last = w
        self.mlp = nn.Sequential(*layers)
        self.shortcut = nn.Linear(n_in, last)
        self.k = k
        self.n_out = last

    def forward(self, h: torch.Tensor, coords: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        idx, valid = knn(coords, mask, self.k)
        k = idx.shape[-1]
        # gather the neighbours through a flat index: no (B, N, N, D) expansion
        flat = (idx + (torch.arange(b, device=h.device) * n).view(b, 1, 1)).reshape(-1)
        nb = h.reshape(b * n, d)[flat].view(b, n, k, d)
        centre = h.unsqueeze(2).expand(b, n, k, d)
        edges = self.mlp(torch.cat([centre, nb - centre], dim=-1))
        w = valid.unsqueeze(-1).to(edges.dtype)
        agg = (edges * w).sum(2) / w.sum(2).clamp(min=1.0)
        return torch.relu(agg + self.shortcut(h)) * mask.unsqueeze(-1)


class EdgeConvNet(nn.Module):
    """A ParticleNet-style graph network on padded point clouds → regression/class heads.

    Input: ``{"points": (B, N, F), "mask": (B, N)}`` (what the organiser gives for a point
    file). The features are normalised over the real points; the first EdgeConv block finds
    neighbours in the chosen coordinate columns (times scaled by the speed of light in
    water), the later ones in the features of the block before (a dynamic graph). A masked
    mean over the points feeds the heads.

    Parameters
    ----------
    n_features
        Columns per point.
    output_sizes
        ``{output name: number of values}``.
    coord_index
        Columns of the first neighbour search (None: all normalised features).
    coord_scale
        Factor per coordinate column (e.g. 0.2254 m/ns for ``time``).
    k
        Neighbours per point.
    blocks
        Widths of the MLP layers of each EdgeConv block.
    hidden, dropout
        The dense layer before the heads and its dropout.
    """

    def __init__(self, n_features: int, output_sizes: Mapping[str, int],
                 coord_index: list[int] | None = None,
                 coord_scale: list[float] | None = None, k: int = 16,
                 blocks: tuple[tuple[int, ...], ...] = ((32, 32), (64, 64)),
                 hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.coord_scale: torch.Tensor  # a buffer (register_buffer below)
        self.norm = MaskedBatchNorm(n_features)
        self.coord_index = None if coord_index is None else list(coord_index)
        scale = coord_scale if coord_scale is not None else [1.0] * len(coord_index or [])
        self.register_buffer("coord_scale", torch.tensor(scale, dtype=torch.float32))
        self.blocks = nn.ModuleList()
        last = n_features
        for widths in blocks:
            block = EdgeConv(last, tuple(widths), k)
            self.blocks.append(block)
            last = block.n_out
        self.dense = nn.Sequential(nn.Linear(last, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict({k_: nn.Linear(hidden, v) for k_, v in output_sizes.items()})

    def forward(self, x: object) -> dict[str, torch.Tensor]:
        points, mask = _points_and_mask(x)
        h = self.norm(points, mask)
        if self.coord_index is None:
            coords = h
        else:
            coords = points[..., self.coord_index] * self.coord_scale
        for block in self.blocks:
            h = block(h, coords, mask)
            coords = h
        w = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * w).sum(1) / w.sum(1).clamp(min=1.0)
        z = self.dense(pooled)
        return {name: head(z) for name, head in self.heads.items()}


def edgeconv_net(input_shapes: Mapping[str, tuple[int, ...]], output_sizes: Mapping[str, int],
                 input_columns: Mapping[str, list[str] | None] | None = None,
                 coordinates: tuple[str, ...] = ("pos_x", "pos_y", "pos_z", "time"),
                 k: int = 16) -> EdgeConvNet:
    """Factory for ``--model``: an :class:`EdgeConvNet` for the (single) point input.

    The first neighbour search uses ``coordinates`` when the file has all of these
    columns (``time`` scaled to metres), else all normalised features.
    """
    if len(input_shapes) != 1:
        raise ValueError(f"edgeconv_net takes one input, got {list(input_shapes)}")
    name, shape = next(iter(input_shapes.items()))
    if len(shape) != 1:
        raise ValueError(f"edgeconv_net takes point clouds (rows of columns), got samples of "
                         f"shape {tuple(shape)}: bin with kind = 'points'")
    columns = (input_columns or {}).get(name)
    index = scale = None
    if columns and all(c in columns for c in coordinates):
        index = [columns.index(c) for c in coordinates]
        scale = [LIGHTSPEED_WATER if c == "time" else 1.0 for c in coordinates]
    torch.manual_seed(0)
    return EdgeConvNet(int(shape[0]), output_sizes, index, scale, k)
