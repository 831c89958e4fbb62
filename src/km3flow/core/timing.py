"""Per-cycle and per-module wall/CPU statistics with bounded memory.

Clock readings go into short Python lists (the cheapest thing to do per cycle) and are
folded into running statistics every few thousand samples: mean, std, min and max are
exact; the median comes from a bounded reservoir sample.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np

_FOLD_EVERY = 8192
_RESERVOIR = 20000


class RunningStats:
    """Exact count/mean/std/min/max and a reservoir median of a stream of values."""

    __slots__ = ("n", "mean", "_m2", "min", "max", "_reservoir", "_filled", "_rng", "total")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.total = 0.0
        self._reservoir = np.empty(_RESERVOIR)
        self._filled = 0
        self._rng = np.random.default_rng(12345)

    def add(self, values: np.ndarray) -> None:
        """Fold a batch of values in (Chan et al. parallel mean/variance update)."""
        values = np.asarray(values, dtype=float)
        k = values.size
        if k == 0:
            return
        b_mean = float(values.mean())
        b_m2 = float(((values - b_mean) ** 2).sum())
        n = self.n + k
        delta = b_mean - self.mean
        self.mean += delta * k / n
        self._m2 += b_m2 + delta * delta * self.n * k / n
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self.total += float(values.sum())
        free = _RESERVOIR - self._filled
        head = values[:free]
        self._reservoir[self._filled:self._filled + head.size] = head
        self._filled += head.size
        rest = values[head.size:]
        if rest.size:
            # Vectorised reservoir sampling: sample i (1-based, global) replaces a random
            # slot with probability R / i.
            idx = np.arange(self.n + head.size + 1, n + 1)
            slots = (self._rng.random(rest.size) * idx).astype(np.int64)
            keep = slots < _RESERVOIR
            self._reservoir[slots[keep]] = rest[keep]
        self.n = n

    def merge(self, other: RunningStats) -> None:
        """Fold another RunningStats in (used to combine workers)."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self._m2 += other._m2 + delta * delta * self.n * other.n / n
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        sample = other._reservoir[: other._filled]
        free = _RESERVOIR - self._filled
        take = sample[:free]
        self._reservoir[self._filled:self._filled + take.size] = take
        self._filled += take.size
        self.n = n

    @property
    def std(self) -> float:
        """Standard deviation of the values added."""
        return math.sqrt(self._m2 / self.n) if self.n else 0.0

    @property
    def median(self) -> float:
        """Median of the values added (of a bounded sample of them)."""
        return float(np.median(self._reservoir[: self._filled])) if self._filled else 0.0

    def line(self, label: str) -> str:
        """One summary line: mean, median, min, max and standard deviation."""
        return (
            f"  {label:<4}  mean: {self.mean:.6f}s  medi: {self.median:.6f}s  "
            f"min: {self.min if self.n else 0.0:.6f}s  max: {self.max if self.n else 0.0:.6f}s  "
            f"std: {self.std:.6f}s"
        )


class IntervalRecorder:
    """Collects (wall, CPU) timestamps at cycle boundaries; differences are cycle times."""

    __slots__ = ("wall", "cpu", "wall_stats", "cpu_stats")

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.wall_stats = RunningStats()
        self.cpu_stats = RunningStats()

    def fold(self, keep_last: bool = True) -> None:
        """Add the recorded intervals to the statistics and drop the raw times."""
        if len(self.wall) < 2:
            return
        self.wall_stats.add(np.diff(self.wall))
        self.cpu_stats.add(np.diff(self.cpu))
        if keep_last:
            self.wall, self.cpu = self.wall[-1:], self.cpu[-1:]
        else:
            self.wall, self.cpu = [], []


class DurationRecorder:
    """Collects (wall, CPU) durations of one module's ``process`` calls."""

    __slots__ = ("wall", "cpu", "wall_stats", "cpu_stats", "finish_wall", "finish_cpu")

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.wall_stats = RunningStats()
        self.cpu_stats = RunningStats()
        self.finish_wall = 0.0
        self.finish_cpu = 0.0

    def fold(self) -> None:
        """Add the recorded durations to the statistics and drop them."""
        if self.wall:
            self.wall_stats.add(np.array(self.wall))
            self.cpu_stats.add(np.array(self.cpu))
            self.wall, self.cpu = [], []


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


@dataclass
class Stopwatch:
    """Wall and CPU time of a block: ``with Stopwatch() as sw: …; sw.wall, sw.cpu``."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


FOLD_EVERY = _FOLD_EVERY
