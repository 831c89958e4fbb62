"""The TOML files of the training organiser: the input list file and the training config.

List file (one section per input; the talk's ``[input xy]`` headers are accepted)::

    [input xy]
    train_files = ["data/xy_train_1.h5", "data/xy_train_2.h5"]
    validation_files = ["data/xy_val_1.h5"]
    test_files = ["data/xy_test_1.h5"]   # optional: never trained or validated on
                                         # (km3flow split writes it; km3flow predict --set test)

Training config (every key optional except the outputs)::

    [training]
    batch_size = 32          epochs = 10           seed = 42
    device = "cpu"           # "cuda", "cuda:1", "auto"
    summaries_per_epoch = 4  # lines in summary.txt per epoch (fractional epochs)
    validate_interval = 2    # validate at every 2nd summary line (0: never)
    [optimizer]
    name = "adam"            # adam, adamw, sgd, rmsprop or "module:callable"
    lr = 0.001
    [schedule]
    name = "exponential"     # constant, exponential, step, cosine or "module:callable"
    gamma = 0.9
    interval = "epoch"       # or "batch"
    [outputs.dir]
    labels = ["dir_x", "dir_y", "dir_z"]   # label columns this output is trained on
    loss = "mse"             # mse, mae, huber, cross_entropy, bce, gaussian_nll or
                             # "module:callable"
    metrics = ["mae"]        # mae, mse, accuracy, auc, resolution, pull or "module:callable"
    [outputs.energy]
    labels = ["energy"]      # also derived: zenith, cos_zenith, azimuth (from dir_x/y/z)
    transform = "log10"      # none or log10 (labels must be > 0)
    loss = "gaussian_nll"    # the model predicts mean and sigma: 2 values per column
    metrics = ["resolution", "pull"]
    [outputs.sign]           # a class from label columns (PDG type, is_cc, …)
    loss = "cross_entropy"
    target = "index"         # class index, or "one_hot" (probabilities)
    class_weights = [1.0, 3.0]
    metrics = ["accuracy", "auc"]
    [[outputs.sign.classes]] # in order; the first class whose conditions hold
    name = "mu_minus"
    type = [13]
    [[outputs.sign.classes]] # no conditions: every other event
    name = "other"
    [modifiers]
    label = "mymodule:labels"   # structured labels → {output: array}
    sample = "mymodule:samples" # {input: array} → model input

Metrics are written to ``summary.txt`` after the loss columns (``train_acc``,
``val_acc``, …). ``accuracy``, ``mae`` and ``mse`` are averaged over batches; ``auc``
(area under the ROC curve: class 1 against class 0, the mean of one-against-rest for more
classes), ``resolution`` (68 % quantile of ``|prediction - label|``, of the residual's
length for several columns, of the space angle in degrees for ``dir_x, dir_y, dir_z``)
and ``pull`` (standard deviation of ``(label - mean) / sigma``, 1 for calibrated sigmas)
are computed on all events of the summary interval.

An unknown key is an error that names the file and the key (with a suggestion).
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.config import load_toml
from ..exceptions import ConfigError

LOSSES = ("mse", "mae", "l1", "huber", "cross_entropy", "bce", "bce_with_logits",
          "gaussian_nll")
METRICS = ("mae", "mse", "accuracy", "acc", "auc", "resolution", "pull")
TRANSFORMS = ("none", "log10")
TARGETS = ("index", "one_hot")
DERIVED_LABELS = ("zenith", "cos_zenith", "azimuth")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "exponential", "step", "cosine")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    """The one TOML loader of km3flow, with the talk's ``[input xy]`` headers accepted."""
    return load_toml(path, what, spaced_sections=True, duplicate_hints={
        "train_files": "did you mean validation_files for the second one?"})


def _unknown(path: Path, where: str, keys: Any, allowed: Any) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{path}: unknown key '{where}{key}'{hint}; "
                              f"allowed: {', '.join(sorted(allowed))}")


@dataclass
class InputFiles:
    """The files of one input (an image kind) for training, validation and testing."""

    name: str
    train_files: list[Path]
    validation_files: list[Path]
    test_files: list[Path] = field(default_factory=list)


def read_list_file(path: str | os.PathLike) -> dict[str, InputFiles]:
    """Read the input list file; paths are relative to the list file's folder.

    Raises
    ------
    ConfigError
        Duplicate keys, unknown keys, missing files, inputs without training files.
    """
    path = Path(path)
    data = _read_toml(path, "list file")
    if not data:
        raise ConfigError(f"{path}: no [input NAME] sections")
    inputs = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: '{section}' must be a section [input NAME]")
        name = section[len("input "):].strip() if section.startswith("input ") else section
        _unknown(path, f"{section}.", body, ("train_files", "validation_files", "test_files"))
        lists = {}
        for key in ("train_files", "validation_files", "test_files"):
            value = body.get(key, [])
            if isinstance(value, str):
                value = [value]
            files = [(path.parent / v) if not Path(v).is_absolute() else Path(v)
                     for v in value]
            for f in files:
                if not f.is_file():
                    raise ConfigError(f"{path}: [{section}] {key}: file {f} does not exist")
            lists[key] = files
        if not lists["train_files"]:
            raise ConfigError(f"{path}: [{section}] has no train_files")
        inputs[name] = InputFiles(name, lists["train_files"], lists["validation_files"],
                                  lists["test_files"])
    counts = {n: (len(i.train_files), len(i.validation_files), len(i.test_files))
              for n, i in inputs.items()}
    if len(set(counts.values())) > 1:
        raise ConfigError(f"{path}: inputs list different numbers of files "
                          f"(train, validation, test): {counts}")
    return inputs


@dataclass
class OutputConfig:
    """One model output: its label columns, loss, weight, metrics and label modifiers.

    Attributes
    ----------
    name : str
        The output's name (``[outputs.NAME]``), the key of its predictions and losses.
    labels : list of str
        Label columns this output is trained on (default: the output's name).
    loss : str
        Loss function of this output.
    weight : float
        Weight of this output's loss in the total loss.
    metrics : list of str
        Metrics written to ``summary.txt`` after the loss columns.
    transform : str
        Transformation of the labels before training (``log10`` needs labels > 0).
    classes : list of dict, optional
        ``[[outputs.NAME.classes]]``: in order, a ``name`` and conditions on label columns
        (``type = [13, -13]``); an event gets the first class whose conditions hold.
    target : str
        With classes: train on the class index or on one-hot rows.
    class_weights : list of float, optional
        One non-negative weight per class (cross-entropy and BCE losses only).
    """

    name: str
    labels: list[str]
    loss: str = "mse"
    weight: float = 1.0
    metrics: list[str] = field(default_factory=list)
    transform: str = "none"
    classes: list[dict[str, Any]] | None = None
    target: str = "index"
    class_weights: list[float] | None = None

    @property
    def size(self) -> int:
        """Values the model predicts for this output (classes, or 2 per column for a
        Gaussian likelihood: means then sigmas)."""
        if self.classes:
            return len(self.classes)
        if self.loss == "gaussian_nll":
            return 2 * len(self.labels)
        return len(self.labels)

    @property
    def class_index_target(self) -> bool:
        """True when the labels are class indices (integers), not values or one-hot rows."""
        if self.classes:
            return self.target == "index"
        return self.loss == "cross_entropy"

    def source_columns(self) -> list[str]:
        """The label-table columns this output reads."""
        if self.classes:
            return sorted({c for cls in self.classes for c in cls if c != "name"})
        cols = []
        for c in self.labels:
            cols += ["dir_x", "dir_y", "dir_z"] if c in DERIVED_LABELS else [c]
        return list(dict.fromkeys(cols))


@dataclass
class TrainingConfig:
    """All settings of a training; see the module docstring for the TOML form.

    Attributes
    ----------
    batch_size : int
        Events per batch (per process with several processes).
    epochs : int
        Epochs ``km3flow train`` runs (a resumed training continues to this number).
    seed : int
        Seed of the shuffling and of the model's initialisation.
    device : str
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available).
    shuffle : bool
        Shuffle the training events every epoch (blocks of batches in random order).
    block_batches : int
        Batches read per contiguous read of a file (larger: faster reads, coarser shuffle).
    num_workers : int
        Worker processes reading batches (0: read in the training process).
    summaries_per_epoch : int
        Lines in ``summary.txt`` per epoch (fractional epochs).
    validate_interval : int
        Validate at every Nth summary line (0: never).
    plot : bool
        Write ``summary.pdf`` and ``summary.png`` after every epoch.
    dry_run : bool
        Before training, push one small batch of every file set through model and losses,
        so a wrong shape or a missing column fails at once, not after an epoch.
    x_loc : str
        HDF5 node of the images (or point clouds) in the training files.
    y_loc : str
        HDF5 node of the label table in the training files.
    optimizer : dict
        The ``[optimizer]`` section.
    schedule : dict
        The ``[schedule]`` section.
    outputs : dict of str to OutputConfig
        The ``[outputs.NAME]`` sections.
    label_modifier : str, optional
        ``modifiers.label``: ``"module:callable"`` turning label rows into targets.
    sample_modifier : str, optional
        ``modifiers.sample``: ``"module:callable"`` turning inputs into the model's input.
    source : str
        The file the config was read from.
    """

    batch_size: int = 32
    epochs: int = 1
    seed: int = 42
    device: str = "cpu"
    shuffle: bool = True
    block_batches: int = 8
    num_workers: int = 0
    summaries_per_epoch: int = 1
    validate_interval: int = 1
    plot: bool = True
    dry_run: bool = True
    x_loc: str = "/x"
    y_loc: str = "/y"
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "adam", "lr": 1e-3})
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "constant"})
    outputs: dict[str, OutputConfig] = field(default_factory=dict)
    label_modifier: str | None = None
    sample_modifier: str | None = None
    source: str = "<defaults>"

    @property
    def lr(self) -> float:
        """The optimizer's learning rate (``optimizer.lr``, default 0.001)."""
        return float(self.optimizer.get("lr", 1e-3))


_TRAINING_KEYS = {f.name for f in fields(TrainingConfig)} - {
    "optimizer", "schedule", "outputs", "label_modifier", "sample_modifier", "source"}
_OPTIMIZER_KEYS = {"name", "lr", "weight_decay", "momentum", "betas", "nesterov"}
_SCHEDULE_KEYS = {"name", "interval", "gamma", "step_size", "t_max", "eta_min"}
_OUTPUT_KEYS = {"labels", "loss", "weight", "metrics", "transform", "classes", "target",
                "class_weights"}
_SECTIONS = {"training", "optimizer", "schedule", "outputs", "modifiers"}


def read_config(path: str | os.PathLike | None,
                overrides: Mapping[str, Any] | None = None) -> TrainingConfig:
    """Read and check a training config TOML (``None``: defaults, outputs must be given).

    Raises
    ------
    ConfigError
        Unknown sections/keys, wrong types, unknown loss/metric/optimizer names.
    """
    cfg = TrainingConfig()
    data: dict[str, Any] = {}
    p = Path(path) if path is not None else Path("<config>")
    if path is not None:
        data = _read_toml(p, "config file")
        cfg.source = str(p)
    _unknown(p, "", data, _SECTIONS)
    training = dict(data.get("training", {}))
    training.update(overrides or {})
    _unknown(p, "training.", training, _TRAINING_KEYS)
    for key, value in training.items():
        default = getattr(cfg, key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{p}: training.{key} must be true or false, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and (
                not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{p}: training.{key} must be an integer, got {value!r}")
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{p}: training.{key} must be a string, got {value!r}")
        setattr(cfg, key, value)
    for key in ("batch_size", "summaries_per_epoch", "block_batches"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{p}: training.{key} must be >= 1")
    if cfg.epochs < 0 or cfg.validate_interval < 0 or cfg.num_workers < 0:
        raise ConfigError(f"{p}: training.epochs/validate_interval/num_workers must be >= 0")
    opt = data.get("optimizer", {})
    _unknown(p, "optimizer.", opt, _OPTIMIZER_KEYS)
    cfg.optimizer = {"name": "adam", "lr": 1e-3, **opt}
    _check_name(p, "optimizer.name", cfg.optimizer["name"], OPTIMIZERS)
    sched = data.get("schedule", {})
    _unknown(p, "schedule.", sched, _SCHEDULE_KEYS)
    cfg.schedule = {"name": "constant", "interval": "epoch", **sched}
    _check_name(p, "schedule.name", cfg.schedule["name"], SCHEDULES)
    if cfg.schedule["interval"] not in ("epoch", "batch"):
        raise ConfigError(f"{p}: schedule.interval must be 'epoch' or 'batch'")
    outputs = data.get("outputs", {})
    for name, body in outputs.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{p}: outputs.{name} must be a section [outputs.{name}]")
        _unknown(p, f"outputs.{name}.", body, _OUTPUT_KEYS)
        labels = body.get("labels", [name])
        labels = [labels] if isinstance(labels, str) else list(labels)
        metrics = body.get("metrics", [])
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        out = OutputConfig(name, labels, str(body.get("loss", "mse")),
                           float(body.get("weight", 1.0)), metrics,
                           str(body.get("transform", "none")), None,
                           str(body.get("target", "index")), None)
        _check_name(p, f"outputs.{name}.loss", out.loss, LOSSES)
        for m in out.metrics:
            _check_name(p, f"outputs.{name}.metrics", m, METRICS)
        _check_output(p, out, body)
        cfg.outputs[name] = out
    mods = data.get("modifiers", {})
    _unknown(p, "modifiers.", mods, ("label", "sample"))
    cfg.label_modifier = mods.get("label")
    cfg.sample_modifier = mods.get("sample")
    for key in ("label", "sample"):
        if mods.get(key) is not None:
            load_callable(mods[key], f"{p}: modifiers.{key}")
    if not cfg.outputs and cfg.label_modifier is None:
        raise ConfigError(f"{p}: no [outputs.NAME] section: say which label columns each "
                          "model output is trained on (or give modifiers.label)")
    return cfg


def _check_output(p: Path, out: OutputConfig, body: Mapping[str, Any]) -> None:
    where = f"{p}: outputs.{out.name}"
    if out.transform not in TRANSFORMS:
        raise ConfigError(f"{where}.transform = '{out.transform}' is unknown; use one of "
                          f"{', '.join(TRANSFORMS)}")
    if out.target not in TARGETS:
        raise ConfigError(f"{where}.target = '{out.target}' is unknown; use one of "
                          f"{', '.join(TARGETS)}")
    classes = body.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or len(classes) < 2 or not all(
                isinstance(c, dict) for c in classes):
            raise ConfigError(f"{where}.classes must be two or more [[outputs.{out.name}."
                              "classes]] tables")
        parsed = []
        for i, cls in enumerate(classes):
            entry: dict[str, Any] = {"name": str(cls.get("name", f"class{i}"))}
            for col, values in cls.items():
                if col == "name":
                    continue
                values = values if isinstance(values, list) else [values]
                if not values or not all(isinstance(v, (int, float)) and not isinstance(
                        v, bool) for v in values):
                    raise ConfigError(f"{where}.classes[{i}].{col} must be a number or a "
                                      f"list of numbers, got {cls[col]!r}")
                entry[col] = values
            parsed.append(entry)
        out.classes = parsed
        if "labels" not in body:
            out.labels = out.source_columns()
        if out.loss not in ("cross_entropy", "bce", "bce_with_logits") and ":" not in out.loss:
            raise ConfigError(f"{where}: classes need loss = 'cross_entropy' or 'bce', got "
                              f"'{out.loss}'")
        if out.loss != "cross_entropy" and out.target == "index":
            raise ConfigError(f"{where}: loss '{out.loss}' needs target = 'one_hot'")
    elif "target" in body:
        raise ConfigError(f"{where}.target needs [[outputs.{out.name}.classes]]")
    weights = body.get("class_weights")
    if weights is not None:
        n = len(out.classes) if out.classes else None
        if not isinstance(weights, list) or (n is not None and len(weights) != n) or any(
                not isinstance(w, (int, float)) or w < 0 for w in weights):
            raise ConfigError(f"{where}.class_weights must be {n or 'one per class'} "
                              f"non-negative numbers, got {weights!r}")
        if out.loss not in ("cross_entropy", "bce", "bce_with_logits"):
            raise ConfigError(f"{where}.class_weights need a cross_entropy or bce loss")
        out.class_weights = [float(w) for w in weights]
    if "pull" in out.metrics and out.loss != "gaussian_nll":
        raise ConfigError(f"{where}: the metric 'pull' needs loss = 'gaussian_nll'")
    if "auc" in out.metrics and not (out.classes or out.loss in (
            "cross_entropy", "bce", "bce_with_logits")):
        raise ConfigError(f"{where}: the metric 'auc' needs classes or a cross_entropy/bce "
                          "loss")


def _check_name(path: Path, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    if ":" in value:
        load_callable(value, f"{path}: {key}")
    elif value not in allowed:
        raise ConfigError(f"{path}: {key} = '{value}' is unknown; use one of "
                          f"{', '.join(allowed)} or 'module:callable'")


def load_callable(spec: str, where: str = "") -> Callable[..., Any]:
    """Import ``"package.module:attr"`` and return the callable.

    Raises
    ------
    ConfigError
        Naming ``where`` when the module or attribute cannot be found.
    """
    modname, _, attr = str(spec).partition(":")
    if not modname or not attr:
        raise ConfigError(f"{where}: '{spec}' is not of the form 'module:callable'")
    try:
        module = importlib.import_module(modname)
    except ImportError as err:
        raise ConfigError(f"{where}: cannot import module '{modname}': {err}") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: module '{modname}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{where}: '{spec}' is not callable")
    return obj
