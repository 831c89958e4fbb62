"""Train/validation/test splits of many training files, written as an Organizer list file.

``km3flow split INPUT… -o list.toml --fractions 0.7 0.2 0.1`` (OrcaSong's
``make_data_split``). Two ways, chosen with ``by``:

* ``by="files"`` (the default, OrcaSong's way): whole files go to the sets. The files are
  put into a seeded random order and each goes to the set furthest below its share of the
  events, so every set's events are within one file's events of its fraction. Nothing is
  copied; the list file names the input files.
* ``by="events"``: every event is drawn into a set (seeded), so the fractions hold to one
  event; the sets are written as new files next to the list file (``<stem>_train.h5``,
  ``<stem>_validation.h5``, ``<stem>_test.h5``), events in input order (shuffle the
  training file with :func:`km3flow.ml.shuffle.shuffle_file` if batches should mix files).
  ``balance=COLUMN`` first keeps the same number of events of every value of that label
  column (the rarest class's count, drawn at random), then splits each class by the
  fractions, so every set is balanced.

The list file has one ``[input NAME]`` section with ``train_files``, ``validation_files``
and ``test_files`` (read by :func:`km3flow.ml.config.read_list_file`; the Organizer trains
and validates on the first two, ``km3flow predict RUN --set test`` uses the third). Paths
are relative to the list file's folder. For a model with several inputs, split each
input's files with the same seed and ``by="files"`` and join the sections: files with the
same event counts go to the same sets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError, FormatError
from ..logger import get_logger
from .h5events import GroupedFile, GroupedWriter, check_output, take
from .summary import write_atomic

log = get_logger("split")

SETS = ("train", "validation", "test")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(list(fractions) + [0.0] * (3 - len(fractions)), dtype=float)
    if len(f) != 3 or np.any(f < 0) or not np.isclose(f.sum(), 1.0) or f[0] <= 0:
        raise ConfigError(f"fractions must be 1 to 3 numbers >= 0 (train, validation, test) "
                          f"that add up to 1 with train > 0, got {list(fractions)}")
    return f


def split_files(inputs: Sequence[str | os.PathLike], output: str | os.PathLike,
                fractions: Sequence[float] = (0.8, 0.2, 0.0), by: str = "files",
                balance: str | None = None, name: str = "xy", y_loc: str = "/y",
                seed: int = 42, chunk_events: int = 4096,
                overwrite: bool = False) -> dict[str, Any]:
    """Split ``inputs`` into train/validation/test sets and write the list file ``output``.

    Parameters
    ----------
    inputs
        KM3Pipe-layout training files (``km3flow bin`` images or point clouds).
    output
        The list file (TOML) to write; with ``by="events"`` the set files go next to it.
    fractions
        Shares of the events for train, validation, test (missing ones are 0).
    by
        ``"files"`` (whole files) or ``"events"`` (see the module docstring).
    balance
        Label column (in ``y_loc``) whose classes get equal counts (``by="events"`` only).
    name
        The input's name: the section ``[input NAME]``.
    y_loc
        The label table.
    seed
        Seed of the random choices.
    chunk_events
        Events read at once (``by="events"``).
    overwrite
        Replace existing outputs.

    Returns
    -------
    dict
        ``files`` ({set: [paths]}), ``events`` ({set: count}) and ``list_file``.

    Raises
    ------
    ConfigError
        Bad fractions or ``by``, ``balance`` without ``by="events"``, existing outputs.
    FormatError
        An input is not a training file, lacks the ``balance`` column, or has a layout
        unlike the first input's (``by="events"``).
    """
    f = _check_fractions(fractions)
    if by not in ("files", "events"):
        raise ConfigError(f"by must be 'files' or 'events', got {by!r}")
    if balance is not None and by != "events":
        raise ConfigError("balancing classes needs by='events' (whole files cannot be "
                          "balanced)")
    if not inputs:
        raise ConfigError("split needs at least one input file")
    output = check_output(output, overwrite, inputs)
    rng = np.random.default_rng(seed)
    if by == "files":
        files, events = _split_by_files([Path(p) for p in inputs], f, rng)
    else:
        files, events = _split_by_events([Path(p) for p in inputs], output, f, rng, balance,
                                         y_loc, chunk_events, overwrite)
    write_atomic(output, _list_text(name, files, output.parent, by, f, seed, balance))
    log.info("split %d events into %s: %s", sum(events.values()), output, events)
    return {"files": files, "events": events, "list_file": output}


def _split_by_files(paths: list[Path], f: np.ndarray,
                    rng: np.random.Generator) -> tuple[dict[str, list[Path]], dict[str, int]]:
    counts = []
    for p in paths:
        with GroupedFile(p) as g:
            counts.append(len(g))
    total = sum(counts)
    target = f * total
    have = np.zeros(3)
    files: dict[str, list[Path]] = {s: [] for s in SETS}
    for k in rng.permutation(len(paths)):
        deficit = np.where(f > 0, target - have, -np.inf)
        s = int(np.argmax(deficit))
        files[SETS[s]].append(paths[k])
        have[s] += counts[k]
    if not files["train"]:
        raise ConfigError(f"no file went to the training set ({len(paths)} files for the "
                          f"fractions {f.tolist()}); give more files or use by='events'")
    return files, {s: int(h) for s, h in zip(SETS, have)}


def _split_by_events(paths: list[Path], output: Path, f: np.ndarray,
                     rng: np.random.Generator, balance: str | None, y_loc: str,
                     chunk_events: int, overwrite: bool
                     ) -> tuple[dict[str, list[Path]], dict[str, int]]:
    sizes, classes = [], []
    for p in paths:
        with GroupedFile(p) as g:
            sizes.append(len(g))
            if balance is not None:
                classes.append(g.column(y_loc, balance))
    total = sum(sizes)
    labels = np.concatenate(classes) if balance is not None else np.zeros(total, np.int8)
    assign = np.full(total, -1, np.int8)
    values, inverse = np.unique(labels, return_inverse=True)
    keep = np.bincount(inverse).min() if balance is not None else total
    if balance is not None:
        log.info("balancing %s: %d classes, %d events of each", balance, len(values), keep)
    for c in range(len(values)):
        members = rng.permutation(np.flatnonzero(inverse == c))[:keep]
        cuts = np.round(np.cumsum(f) * len(members)).astype(int)
        for s, (a, b) in enumerate(zip(np.concatenate([[0], cuts[:-1]]), cuts)):
            assign[members[a:b]] = s
    names = {s: output.with_name(f"{output.stem}_{s}.h5") for s, fs in zip(SETS, f) if fs > 0}
    for p in names.values():
        check_output(p, overwrite, paths)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    counts = {s: 0 for s in SETS}
    with ExitStack() as stack:
        first = stack.enter_context(GroupedFile(paths[0]))
        writers = {s: stack.enter_context(GroupedWriter(p, first)) for s, p in names.items()}
        for k, p in enumerate(paths):
            src = first if k == 0 else stack.enter_context(GroupedFile(p))
            if k:
                first.check_same_layout(src)
            for start in range(0, len(src), chunk_events):
                chunk = src.read(start, start + chunk_events)
                where = assign[offsets[k] + start:offsets[k] + start + chunk.n]
                for which, w in writers.items():
                    sel = np.flatnonzero(where == SETS.index(which))
                    if sel.size:
                        w.append(take(chunk, sel))
                        counts[which] += int(sel.size)
            if k:
                src.close()
        empty = [s for s, w in writers.items() if w.n_groups == 0]
        if empty:
            raise FormatError(f"the {empty[0]} set would be empty: too few events "
                              f"({total}{', balanced' if balance else ''}) for the fractions",
                              path=paths[0])
    return {s: [names[s]] if s in names else [] for s in SETS}, counts


def _list_text(name: str, files: dict[str, list[Path]], folder: Path, by: str,
               f: np.ndarray, seed: int, balance: str | None) -> str:
    def rel(p: Path) -> str:
        try:
            return os.path.relpath(Path(p).resolve(), folder.resolve())
        except ValueError:  # another drive (Windows)
            return str(Path(p).resolve())

    lines = [f"# written by km3flow split (by {by}, fractions {f.tolist()}, seed {seed}"
             f"{', balanced by ' + balance if balance else ''})",
             f'[input {name}]']
    for s in SETS:
        quoted = ", ".join(json.dumps(rel(p)) for p in files[s])  # TOML basic strings
        lines.append(f"{s}_files = [{quoted}]")
    return "\n".join(lines) + "\n"
