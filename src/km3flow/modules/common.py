"""General-purpose modules: status output, memory watch, key filtering, blob dumps, progress."""

from __future__ import annotations

import time
from typing import Any

from ..core import Blob, Module
from ..core.config import Parameter
from ..core.timing import peak_memory_mb


def _key_tuple(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """One blob key or several, as a tuple of strings."""
    keys = (value,) if isinstance(value, str) else tuple(value)
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        raise TypeError(f"blob keys must be strings, got {bad!r}")
    return keys


_KEYS = (str, list, tuple)


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be a positive integer, got {value}")
    return value


class StatusBar(Module):
    """Print a line with the cycle number; attach with ``every=N`` to print every N cycles."""

    def configure(self) -> None:
        self.cycle = 0

    def process(self, blob: Blob) -> Blob:
        self.print(f"{'-' * 12}[ Blob {self.cycle:>7} ]{'-' * 12}")
        self.cycle += self.every or 1
        return blob

    def finish(self) -> dict[str, int]:
        return {"printed_up_to_cycle": self.cycle}


class MemoryObserver(Module):
    """Log the peak memory of the process, and store it in the blob as ``MemoryObserver``."""

    def configure(self) -> None:
        self.peak = 0.0

    def process(self, blob: Blob) -> Blob:
        self.peak = peak_memory_mb()
        self.print(f"Memory peak: {self.peak:.2f} MB")
        blob["MemoryObserver"] = self.peak
        return blob

    def finish(self) -> dict[str, float]:
        return {"peak_mb": self.peak}


class Keep(Module):
    """Keep only the given blob keys (parameter ``keys``), drop everything else."""

    keys = Parameter(_KEYS, help="the blob key(s) to keep", check=_key_tuple)

    def process(self, blob: Blob) -> Blob:
        return Blob((k, blob[k]) for k in self.keys if k in blob)


class Delete(Module):
    """Remove the given blob keys (parameter ``keys``); missing keys are ignored."""

    keys = Parameter(_KEYS, help="the blob key(s) to remove", check=_key_tuple)

    def process(self, blob: Blob) -> Blob:
        for key in self.keys:
            blob.pop(key, None)
        return blob


class Dump(Module):
    """Print the blob (or only ``keys``); ``full=True`` prints whole values, not their repr."""

    keys = Parameter(_KEYS, default=None, help="print only these blob keys",
                     check=_key_tuple)
    full = Parameter(bool, default=False, help="print whole values, not the blob's repr")

    def process(self, blob: Blob) -> Blob:
        shown = blob if self.keys is None else Blob((k, blob[k]) for k in self.keys if k in blob)
        if self.full:
            for key, value in shown.items():
                self.print(f"{key}:\n{value}")
        else:
            print(shown)
        return blob


class Siphon(Module):
    """Collect ``volume`` blobs and pass them on together as ``blob['Siphon']`` (a list).

    Cycles in between end after this module (nothing is passed on). With ``flush=True``
    the collection starts anew after each release; otherwise it slides.
    """

    volume = Parameter(int, help="how many blobs to collect", check=_positive)
    flush = Parameter(bool, default=False,
                      help="start a new collection after each release (else it slides)")

    def configure(self) -> None:
        self.collected: list[Blob] = []

    def process(self, blob: Blob) -> Blob | None:
        self.collected.append(blob)
        if len(self.collected) < self.volume:
            return None
        out = Blob({"Siphon": list(self.collected)})
        if self.flush:
            self.collected = []
        else:
            self.collected.pop(0)
        return out


class ProgressBar(Module):
    """A tqdm progress bar over the cycles, or over the input bytes of a file pump.

    When the pump offers the ``input_progress`` service (:class:`~km3flow.io.files.FilePump`,
    :class:`~km3flow.io.hdf5.HDF5Pump`) and no ``total`` is given, the bar counts the bytes
    of the input files read so far and shows files and events (cycles) done, the rate
    and the ETA (:class:`km3flow.core.progress.RunProgress`). Otherwise it counts cycles
    against ``total``.

    Parameters
    ----------
    total
        The number of cycles; by default the length of the pipeline's pump, when it has one.
    """

    total = Parameter(int, default=None, check=_positive,
                      help="the number of cycles (default: the pump's length)")
    desc = Parameter(str, default=None, help="the text in front of the bar")

    def configure(self) -> None:
        self.bar: Any = None
        self.count = 0
        self.input_progress: Any = None
        self._next = 0.0

    def prepare(self) -> None:
        if self.total is None and "input_progress" in self.services:
            self.input_progress = self.services["input_progress"]
        elif self.total is None and "n_cycles" in self.services:
            self.total = self.services["n_cycles"]()

    def process(self, blob: Blob) -> Blob:
        step = self.every or 1
        self.count += step
        if self.input_progress is not None:
            now = time.monotonic()
            if now >= self._next:  # the pump's estimate is asked for a few times a second
                self._next = now + 0.2
                self._bytes_bar()
            return blob
        if self.bar is None:  # drawn from the first cycle on, after the pipeline's own lines
            from tqdm import tqdm

            from ..logger import printing_enabled

            # km3flow -q (or a level above INFO) hides the bar like every other printout
            self.bar = tqdm(total=self.total, desc=self.desc, unit="blob",
                            disable=not printing_enabled())
        self.bar.update(step)
        return blob

    def _bytes_bar(self) -> None:
        files, n_files, done, total = self.input_progress()
        if self.bar is None:
            from ..core.progress import RunProgress

            self.bar = RunProgress(n_files, total, desc=self.desc)
        self.bar.set(files, self.count, done, force=True)

    def finish(self) -> dict[str, Any]:
        if self.bar is None:
            return {"cycles": 0}
        if self.input_progress is not None:
            self._bytes_bar()
        self.bar.close()
        return {"cycles": self.count}

