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


def make_loss(out: OutputConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function of one output (``pred, target -> scalar``)."""
    builtin = {
        "mse": F.mse_loss, "mae": F.l1_loss, "l1": F.l1_loss, "huber": F.huber_loss,
        "cross_entropy": F.cross_entropy, "bce": F.binary_cross_entropy_with_logits,
        "bce_with_logits": F.binary_cross_entropy_with_logits,
    }
    if ":" in out.loss:
        return load_callable(out.loss, f"outputs.{out.name}.loss")
    fn = builtin[out.loss]
    class_index = out.loss == "cross_entropy"

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_shapes(out.name, pred, target, class_index)
        return fn(pred, target)

    return loss


def metric_name(metric: str) -> str:
    """Short column name of a metric (``accuracy`` → ``acc``)."""
    if ":" in metric:
        return metric.rpartition(":")[2].rpartition(".")[2]
    return {"accuracy": "acc"}.get(metric, metric)


def make_metric(metric: str, out: OutputConfig) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """A metric ``pred, target -> float`` (batch mean)."""
    if ":" in metric:
        fn = load_callable(metric, f"outputs.{out.name}.metrics")
        return lambda p, t: float(fn(p, t))
    if metric == "mae":
        return lambda p, t: float((p - t).abs().mean())
    if metric == "mse":
        return lambda p, t: float(((p - t) ** 2).mean())

    def accuracy(p: torch.Tensor, t: torch.Tensor) -> float:
        if out.loss == "cross_entropy":
            return float((p.argmax(dim=1) == t).float().mean())
        return float(((p > 0).float() == (t > 0.5).float()).float().mean())

    return accuracy


def label_dtype(out: OutputConfig) -> torch.dtype:
    return torch.long if out.loss == "cross_entropy" else torch.float32


def default_labels(y: np.ndarray, outputs: Mapping[str, OutputConfig],
                   where: str = "") -> dict[str, np.ndarray]:
    """Stack the configured label columns of each output: ``(n, k)`` (``(n,)`` for classes)."""
    names = y.dtype.names or ()
    result = {}
    for name, out in outputs.items():
        missing = [c for c in out.labels if c not in names]
        if missing:
            raise TrainingError(f"{where}: labels have no column(s) {missing} needed by "
                                f"output '{name}'; present: {list(names)}")
        if out.loss == "cross_entropy":
            if len(out.labels) != 1:
                raise ConfigError(f"outputs.{name}: cross_entropy needs one label column "
                                  f"(class index), got {out.labels}")
            result[name] = np.asarray(y[out.labels[0]])
        else:
            result[name] = np.stack([np.asarray(y[c], dtype=np.float32) for c in out.labels],
                                    axis=1)
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
