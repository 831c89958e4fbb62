"""Progress of long runs: files, events and bytes done, with rate and ETA (tqdm).

:class:`RunProgress` is the one bar of a run, serial or parallel. Its total is the bytes of
the input files, the quantity a conversion's time follows best whatever the format (events
per file vary by orders of magnitude); files and events done are shown next to it. A
serial drain moves it with :class:`~km3flow.modules.ProgressBar` from the pump's
``input_progress`` service (files done, bytes done, estimated within the open file);
a task drain (``drain(workers=…, progress=True)``) moves it once per finished task.
The bar is silent when printing is off (``km3flow -q``,
:func:`km3flow.logger.printing_enabled`). tqdm is imported when the first bar is drawn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any


def file_sizes(paths: Sequence[str | os.PathLike]) -> list[int]:
    """The sizes in bytes of ``paths`` (0 for a file that cannot be stat'ed)."""
    sizes = []
    for p in paths:
        try:
            sizes.append(os.path.getsize(p))
        except OSError:
            sizes.append(0)
    return sizes


class RunProgress:
    """A tqdm bar over the input bytes of a run, with files and events done beside it.

    Parameters
    ----------
    n_files
        The number of input files.
    total_bytes
        Their total size.
    desc
        The text in front of the bar.
    min_interval
        Seconds between two redraws of the counters (the bar's own refresh is tqdm's).
    disable
        Draw nothing; by default when printing is off (``km3flow -q``).

    Examples
    --------
    >>> bar = RunProgress(n_files=2, total_bytes=2048, disable=True)
    >>> bar.set(files=1, events=10, nbytes=1024)
    >>> bar.files, bar.events, bar.nbytes
    (1, 10, 1024)
    >>> bar.close()
    """

    def __init__(self, n_files: int, total_bytes: int, desc: str | None = None,
                 min_interval: float = 0.2, disable: bool | None = None) -> None:
        from tqdm import tqdm

        from ..logger import printing_enabled

        self.n_files = int(n_files)
        self.total_bytes = int(total_bytes)
        self.files = 0
        self.events = 0
        self.nbytes = 0
        self.min_interval = min_interval
        self._next = 0.0
        if disable is None:
            disable = not printing_enabled()  # km3flow -q hides it like every other printout
        self.bar: Any = tqdm(total=self.total_bytes or None, desc=desc, unit="B",
                             unit_scale=True, unit_divisor=1024, disable=disable,
                             dynamic_ncols=True)
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"files {self.files}/{self.n_files}, events {self.events}",
                                 refresh=False)

    def set(self, files: int, events: int, nbytes: int, force: bool = False) -> None:
        """Set the counts done so far; redraws at most every ``min_interval`` seconds."""
        self.files, self.events = files, events
        nbytes = min(int(nbytes), self.total_bytes) if self.total_bytes else int(nbytes)
        now = time.monotonic()
        if not force and now < self._next:
            self.nbytes = max(self.nbytes, nbytes)
            return
        self._next = now + self.min_interval
        self._postfix()
        if nbytes > self.bar.n:
            self.bar.update(nbytes - self.bar.n)
        else:
            self.bar.refresh()
        self.nbytes = max(self.nbytes, nbytes)

    def add(self, files: int = 0, events: int = 0, nbytes: int = 0) -> None:
        """Add finished work (e.g. one task's files, events and input bytes)."""
        self.set(self.files + files, self.events + events, self.nbytes + nbytes, force=True)

    def close(self) -> None:
        """Draw the last counts and close the bar."""
        self._postfix()
        self.bar.refresh()
        self.bar.close()
