"""How a training run rebuilds its model: ``run.json`` and ``run_config.toml`` in the run folder.

``km3flow train --model module:factory`` writes, before training starts:

* ``run.json``: the model factory (``"model"``), the keyword arguments it was called with
  (``"model_kwargs"``: ``input_shapes``, ``output_sizes``), the input names, and the
  absolute paths of the list file and the training config used;
* ``run_config.toml``: a copy of the training config, so that the run folder alone knows
  the outputs, label columns and modifiers even when the original config moves.

``km3flow predict RUN FILE…`` calls the factory with the recorded arguments and loads the
weights of a checkpoint (``checkpoints/epoch_NNNN.pt`` holds the weights only). Runs
trained from Python (``Organizer.train_and_validate(model)``) have no ``run.json``; give
``--model`` and ``--config`` to ``km3flow predict`` for those.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .summary import write_atomic

RUN_FILE = "run.json"
CONFIG_COPY = "run_config.toml"


def write_run_info(folder: str | os.PathLike, model: str, model_kwargs: dict[str, Any],
                   inputs: list[str], list_file: str | os.PathLike,
                   config_file: str | os.PathLike | None) -> Path:
    """Record how to rebuild the model of the run in ``folder``.

    Raises
    ------
    ConfigError
        ``folder`` already records another model factory (checkpoints of one model would
        be loaded into another).
    """
    folder = Path(folder)
    check_run_model(folder, model)
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / RUN_FILE
    record = {"model": model, "model_kwargs": _plain(model_kwargs), "inputs": list(inputs),
              "list_file": str(Path(list_file).resolve()),
              "config": str(Path(config_file).resolve()) if config_file else None}
    if config_file:
        tmp = folder / f".{CONFIG_COPY}.tmp{os.getpid()}"
        shutil.copyfile(config_file, tmp)
        os.replace(tmp, folder / CONFIG_COPY)
    write_atomic(old, json.dumps(record, indent=2) + "\n")
    return old


def check_run_model(folder: str | os.PathLike, model: str) -> None:
    """Refuse to continue the run in ``folder`` with another model factory than its own.

    Raises
    ------
    ConfigError
        ``folder/run.json`` names another factory.
    """
    path = Path(folder) / RUN_FILE
    if path.is_file():
        try:
            before = json.loads(path.read_text()).get("model")
        except (json.JSONDecodeError, AttributeError) as err:
            raise ConfigError(f"{path}: not a run record ({err})") from err
        if before != model:
            raise ConfigError(f"{folder}: this run was trained with --model {before}, not "
                              f"{model}; use a new output folder")


def read_run_info(folder: str | os.PathLike) -> dict[str, Any]:
    """The record of :func:`write_run_info`, with ``config`` pointing at the copy.

    Raises
    ------
    ConfigError
        ``folder`` is not a folder or has no (readable) ``run.json``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a training output folder")
    path = folder / RUN_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: missing: the run was not started by 'km3flow train' "
                          "(give --model module:callable and --config)")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON ({err})") from err
    if not isinstance(record, dict) or "model" not in record:
        raise ConfigError(f"{path}: no 'model' entry")
    if (folder / CONFIG_COPY).is_file():
        record["config"] = str(folder / CONFIG_COPY)
    return record


def _plain(value: Any) -> Any:
    """Tuples and numpy integers as JSON lists and ints."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value
