"""Torch building blocks of the organiser: losses, metrics, optimiser, schedule, checkpoints.

Imported only by :mod:`km3flow.ml.organizer` at training time (it imports torch).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..exceptions import ConfigError, Km3flowError
from .config import OutputConfig, TrainingConfig, load_callable


class TrainingError(Km3flowError, RuntimeError):
    """Training cannot go on: wrong shapes, NaN loss, a failing model call."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` → a torch device (checked to exist)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"training.device = '{name}' but torch sees no CUDA device "
                              f"(torch {torch.__version__})")
        if name == "cuda":
            name = f"cuda:{local_rank % torch.cuda.device_count()}"
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"training.device = '{name}' is not a torch device: {err}") from err


def _check_shapes(name: str, pred: torch.Tensor, target: torch.Tensor, class_index: bool) -> None:
    if class_index:
        ok = pred.ndim == 2 and target.ndim == 1 and pred.shape[0] == target.shape[0]
    else:
        ok = pred.shape == target.shape
    if not ok:
        raise TrainingError(f"output '{name}': the model gives shape {tuple(pred.shape)} but "
                            f"the labels have shape {tuple(target.shape)}")


def _gaussian_parts(out: OutputConfig, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sigma of a Gaussian-likelihood output (means first, then raw sigmas)."""
    k = len(out.labels)
    # softplus keeps sigma positive and smooth; the floor avoids a division by zero
    return pred[:, :k], F.softplus(pred[:, k:]) + 1e-3


def point_prediction(out: OutputConfig, pred: torch.Tensor) -> torch.Tensor:
    """The predicted values of an output (the means of a Gaussian-likelihood output)."""
    return _gaussian_parts(out, pred)[0] if out.loss == "gaussian_nll" else pred


def gaussian_nll(mean: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``target`` under Normal(``mean``, ``sigma``)."""
    z = (target - mean) / sigma
    return (torch.log(sigma) + 0.5 * z * z).mean() + 0.5 * float(np.log(2 * np.pi))


def make_loss(out: OutputConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function of one output (``pred, target -> scalar``)."""
    builtin: dict[str, Callable[..., torch.Tensor]] = {
        "mse": F.mse_loss, "mae": F.l1_loss, "l1": F.l1_loss, "huber": F.huber_loss,
        "cross_entropy": F.cross_entropy, "bce": F.binary_cross_entropy_with_logits,
        "bce_with_logits": F.binary_cross_entropy_with_logits,
    }
    if ":" in out.loss:
        return load_callable(out.loss, f"outputs.{out.name}.loss")
    class_index = out.class_index_target
    weights = None if out.class_weights is None else torch.tensor(out.class_weights)
    if out.loss == "gaussian_nll":
        def nll(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if pred.ndim != 2 or pred.shape[1] != out.size or pred.shape[0] != target.shape[0]:
                raise TrainingError(f"output '{out.name}': gaussian_nll needs the model to give "
                                    f"(n, {out.size}) (means, then sigmas) but it gives "
                                    f"{tuple(pred.shape)} for labels {tuple(target.shape)}")
            mean, sigma = _gaussian_parts(out, pred)
            return gaussian_nll(mean, sigma, target)

        return nll
    fn = builtin[out.loss]

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_shapes(out.name, pred, target, class_index)
        if weights is None:
            return fn(pred, target)
        w = weights.to(pred.device)
        if out.loss == "cross_entropy" and target.is_floating_point():
            # normalised by the summed weights as for class indices (torch divides
            # probability targets by the batch size), so both targets give the same loss
            tw = target * w
            return -(tw * F.log_softmax(pred, dim=1)).sum() / tw.sum().clamp(min=1e-12)
        if out.loss == "cross_entropy":
            return fn(pred, target, weight=w)
        return fn(pred, target, weight=w.expand_as(pred))

    return loss


def metric_name(metric: str) -> str:
    """Short column name of a metric (``accuracy`` → ``acc``)."""
    if ":" in metric:
        return metric.rpartition(":")[2].rpartition(".")[2]
    return {"accuracy": "acc"}.get(metric, metric)


#: metrics computed on all events of a summary interval rather than averaged over batches
POOLED_METRICS = ("auc", "resolution", "pull")


def make_metric(metric: str, out: OutputConfig) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """A metric ``pred, target -> float``.

    The functions of :data:`POOLED_METRICS` carry ``pooled = True``: the organiser calls
    them on the predictions of a whole summary interval.
    """
    if ":" in metric:
        fn = load_callable(metric, f"outputs.{out.name}.metrics")
        return lambda p, t: float(fn(p, t))
    if metric == "mae":
        return lambda p, t: float((point_prediction(out, p) - t).abs().mean())
    if metric == "mse":
        return lambda p, t: float(((point_prediction(out, p) - t) ** 2).mean())
    if metric in POOLED_METRICS:
        fn = {"auc": _auc, "resolution": _resolution, "pull": _pull}[metric]

        def pooled(p: torch.Tensor, t: torch.Tensor) -> float:
            return fn(out, p, t)

        pooled.pooled = True  # type: ignore[attr-defined]  # a marker on the function object
        return pooled

    def accuracy(p: torch.Tensor, t: torch.Tensor) -> float:
        if out.class_index_target:
            return float((p.argmax(dim=1) == t).float().mean())
        if p.ndim == 2 and p.shape[1] > 1:  # one-hot targets
            return float((p.argmax(dim=1) == t.argmax(dim=1)).float().mean())
        return float(((p > 0).float() == (t > 0.5).float()).float().mean())

    return accuracy


def _binary_auc(score: np.ndarray, positive: np.ndarray) -> float:
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    s = score[order]
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # tied scores share their mean rank (the Mann-Whitney U statistic)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = np.empty(score.size)
    ranks[order] = mean_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _auc(out: OutputConfig, p: torch.Tensor, t: torch.Tensor) -> float:
    p = p.detach().cpu().double()
    t = t.detach().cpu()
    if p.ndim == 1 or p.shape[1] == 1:  # one logit (bce)
        return _binary_auc(p.reshape(-1).numpy(), (t.reshape(-1) > 0.5).numpy())
    labels = (t if out.class_index_target else t.argmax(dim=1)).numpy()
    scores = torch.log_softmax(p, dim=1).numpy() if out.loss == "cross_entropy" else p.numpy()
    if p.shape[1] == 2:
        return _binary_auc(scores[:, 1] - scores[:, 0], labels == 1)
    aucs = [_binary_auc(scores[:, c], labels == c) for c in range(p.shape[1])]
    return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")


def _resolution(out: OutputConfig, p: torch.Tensor, t: torch.Tensor) -> float:
    pred = point_prediction(out, p.detach()).cpu().double()
    t = t.detach().cpu().double()
    if pred.numel() == 0:
        return float("nan")
    if list(out.labels) == ["dir_x", "dir_y", "dir_z"] and out.transform == "none":
        a = pred / pred.norm(dim=1, keepdim=True).clamp(min=1e-12)
        b = t / t.norm(dim=1, keepdim=True).clamp(min=1e-12)
        err = torch.rad2deg(torch.arccos((a * b).sum(1).clamp(-1.0, 1.0)))
    else:
        err = (pred - t).reshape(len(t), -1).norm(dim=1)
    return float(torch.quantile(err, 0.68))


def _pull(out: OutputConfig, p: torch.Tensor, t: torch.Tensor) -> float:
    mean, sigma = _gaussian_parts(out, p.detach())
    z = ((t - mean) / sigma).reshape(-1).double()
    return float(z.std(unbiased=False)) if z.numel() else float("nan")


def label_dtype(out: OutputConfig) -> torch.dtype:
    """The torch dtype of an output's labels: ``long`` for class indices, else ``float32``."""
    return torch.long if out.class_index_target else torch.float32


def _label_column(y: np.ndarray, col: str) -> np.ndarray:
    if col in (y.dtype.names or ()):
        return np.asarray(y[col], dtype=np.float64)
    # KM3NeT's convention: the zenith is the angle of where the particle comes from
    dx, dy, dz = (np.asarray(y[c], dtype=np.float64) for c in ("dir_x", "dir_y", "dir_z"))
    if col == "cos_zenith":
        return -dz
    if col == "zenith":
        return np.arccos(np.clip(-dz, -1.0, 1.0))
    return np.mod(np.arctan2(-dy, -dx), 2 * np.pi)  # azimuth


def class_index(y: np.ndarray, out: OutputConfig, where: str = "") -> np.ndarray:
    """The class of every event: the first of ``out.classes`` whose conditions all hold."""
    n = len(y)
    result = np.full(n, -1, dtype=np.int64)
    for i, cls in enumerate(out.classes or []):
        ok = result < 0
        for col, values in cls.items():
            if col != "name":
                ok &= np.isin(np.asarray(y[col]), values)
        result[ok] = i
    if np.any(result < 0):
        row = int(np.flatnonzero(result < 0)[0])
        cols = out.source_columns()
        values = ", ".join(f"{c}={y[c][row]}" for c in cols)
        raise TrainingError(f"{where}: event {row} of the batch ({values}) is in none of the "
                            f"classes of output '{out.name}'")
    return result


def default_labels(y: np.ndarray, outputs: Mapping[str, OutputConfig],
                   where: str = "") -> dict[str, np.ndarray]:
    """The targets of each output from the label table.

    ``(n, k)`` float32 values of the label columns (derived ``zenith``, ``cos_zenith``,
    ``azimuth``; ``log10`` applied when configured), ``(n,)`` class indices or ``(n, C)``
    one-hot rows for class outputs.
    """
    names = y.dtype.names or ()
    result = {}
    for name, out in outputs.items():
        missing = [c for c in out.source_columns() if c not in names]
        if missing:
            raise TrainingError(f"{where}: labels have no column(s) {missing} needed by "
                                f"output '{name}'; present: {list(names)}")
        if out.classes:
            idx = class_index(y, out, where)
            if out.target == "index":
                result[name] = idx
            else:
                result[name] = np.eye(len(out.classes), dtype=np.float32)[idx]
        elif out.loss == "cross_entropy":
            if len(out.labels) != 1:
                raise ConfigError(f"outputs.{name}: cross_entropy needs one label column "
                                  f"(class index), got {out.labels}")
            result[name] = np.asarray(y[out.labels[0]])
        else:
            values = np.stack([_label_column(y, c) for c in out.labels], axis=1)
            if out.transform == "log10":
                bad = np.argwhere(~(values > 0))
                if bad.size:
                    r, c = (int(v) for v in bad[0])
                    raise TrainingError(f"{where}: label '{out.labels[c]}' of output '{name}' "
                                        f"is {values[r, c]} at event {r} of the batch; "
                                        "transform = 'log10' needs values > 0")
                values = np.log10(values)
            result[name] = values.astype(np.float32)
    return result


def build_optimizer(params: Any, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``[optimizer]``."""
    opt = dict(cfg.optimizer)
    name = opt.pop("name")
    if ":" in name:
        return load_callable(name, "optimizer.name")(params, **opt)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
           "rmsprop": torch.optim.RMSprop}[name]
    if "betas" in opt:
        opt["betas"] = tuple(opt["betas"])
    try:
        return cls(params, **opt)
    except TypeError as err:
        raise ConfigError(f"[optimizer] {name}: {err}") from err


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainingConfig) -> Any:
    """The learning-rate schedule named in ``[schedule]``."""
    sch = dict(cfg.schedule)
    name = sch.pop("name")
    sch.pop("interval", None)
    lrs = torch.optim.lr_scheduler
    if ":" in name:
        return load_callable(name, "schedule.name")(optimizer, **sch)
    if name == "constant":
        return lrs.LambdaLR(optimizer, _constant)
    if name == "exponential":
        return lrs.ExponentialLR(optimizer, gamma=float(sch.get("gamma", 0.9)))
    if name == "step":
        return lrs.StepLR(optimizer, step_size=int(sch.get("step_size", 1)),
                          gamma=float(sch.get("gamma", 0.1)))
    return lrs.CosineAnnealingLR(optimizer, T_max=int(sch.get("t_max", 10)),
                                 eta_min=float(sch.get("eta_min", 0.0)))


def _constant(epoch: int) -> float:
    return 1.0


def rng_state() -> dict[str, Any]:
    """All random-number generator states a training touches."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the random states of torch, NumPy and Python (and CUDA) from a checkpoint."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> None:
    """``torch.save`` to a temporary name, then rename (never a half-written checkpoint)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU (RNG states must stay CPU tensors; ``load_state_dict``
    moves weights and optimiser state to the parameters' device)."""
    # weights_only=False: the payload holds numpy/python RNG states written by km3flow itself.
    return torch.load(path, map_location="cpu", weights_only=False)
