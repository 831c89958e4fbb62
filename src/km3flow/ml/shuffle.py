"""A shuffled copy of a training file (images or point clouds) in bounded memory.

``km3flow shuffle IN.h5 -o OUT.h5 --seed 42 --memory-mb 256`` (OrcaSong's ``h5shuffle2``).
The events are cut into *blocks* of consecutive events; the blocks are put into a seeded
random order and taken a *window* (16 blocks) at a time, whose events are read, mixed with
a full random permutation and written. Guarantees:

* the output holds every event exactly once, with all its rows in every node (images,
  hits, labels, …), renumbered ``group_id`` 0…n-1 in the new order;
* the same seed gives the same file; memory holds one window (``memory_mb`` of
  uncompressed event data) besides PyTables' caches (see :mod:`km3flow.ml.h5events`);
* when the whole file fits into one window the order is a uniformly random permutation;
  otherwise every event lands at a random place inside its window, and events of one
  block stay in the same window (``passes=2`` mixes those too, at twice the cost).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError
from ..logger import get_logger
from .h5events import GroupedFile, GroupedWriter, check_output, concatenate, take

log = get_logger("shuffle")

BLOCKS_PER_WINDOW = 16


def shuffle_file(path: str | os.PathLike, output: str | os.PathLike, seed: int = 42,
                 memory_mb: float = 256.0, passes: int = 1,
                 overwrite: bool = False) -> dict[str, Any]:
    """Write a shuffled copy of the KM3Pipe-layout file ``path`` to ``output``.

    Parameters
    ----------
    path
        Input file (``km3flow bin`` images, point clouds, any KM3Pipe-layout file).
    output
        File to write (through a temporary name; never the input).
    seed
        Seed of the random order.
    memory_mb
        Uncompressed event data held in memory at once (one window).
    passes
        Shuffle this many times (each pass writes a temporary file but the last).
    overwrite
        Replace an existing ``output``.

    Returns
    -------
    dict
        ``events``, ``window`` (events mixed at once), ``passes`` and ``output``.

    Raises
    ------
    ConfigError
        ``output`` exists (without ``overwrite``) or is the input; bad ``memory_mb``/``passes``.
    FormatError
        The input is not a KM3Pipe-layout file with events.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> r = shuffle_file(data_path("hdf5/atmospheric_muons_sample.h5"), "shuffled.h5")
    >>> r["events"]
    500
    """
    if memory_mb <= 0 or passes < 1:
        raise ConfigError(f"memory_mb must be > 0 and passes >= 1, got {memory_mb}, {passes}")
    output = check_output(output, overwrite, [path])
    rng = np.random.default_rng(seed)
    source = Path(path)
    result: dict[str, Any] = {}
    for k in range(passes):
        last = k == passes - 1
        target = output if last else output.with_name(f".{output.name}.pass{k}{os.getpid()}")
        try:
            result = _one_pass(source, target, rng, memory_mb)
        finally:
            if k > 0:
                source.unlink(missing_ok=True)  # the previous pass's temporary file
        source = target
    result.update(passes=passes, output=output)
    return result


def _one_pass(path: Path, output: Path, rng: np.random.Generator,
              memory_mb: float) -> dict[str, Any]:
    with GroupedFile(path) as src:
        n = len(src)
        window = max(1, int(memory_mb * 2**20 / max(src.event_bytes(), 1.0)))
        window = min(window, max(n, 1))
        block = max(1, -(-window // BLOCKS_PER_WINDOW))
        starts = np.arange(0, n, block)
        order = rng.permutation(len(starts))
        # a file that fits is one window (one uniformly random permutation)
        per_window = len(starts) if window >= n else max(1, window // block)
        log.info("shuffling %d events of %s: %d blocks of %d events, %d blocks at once",
                 n, path, len(starts), block, per_window)
        with GroupedWriter(output, src) as out:
            for w in range(0, len(order), per_window):
                # read the window's blocks in file order (sequential reads)
                chosen = np.sort(starts[order[w:w + per_window]])
                chunk = concatenate([src.read(int(s), int(s) + block) for s in chosen])
                out.append(take(chunk, rng.permutation(chunk.n)))
            if n == 0:
                out.append(src.read(0, 0))
    return {"events": n, "window": min(n, per_window * block)}
