"""The summary of a task drain (serial or parallel): per-worker and total cycles, times, memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from .executor import ModuleStats, TaskReport
from .timing import RunningStats


@dataclass
class WorkerReport:
    """What one worker (a process, or a Dask worker) did over all its tasks."""

    worker: str
    tasks: int = 0
    cycles: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0


@dataclass
class ParallelSummary:
    """Statistics of a parallel drain, also printed at its end.

    Attributes
    ----------
    executor
        What ran the tasks, e.g. ``"process pool (forkserver), 2 workers"``.
    tasks
        One :class:`~km3flow.core.executor.TaskReport` per task, in task order.
    workers
        Per-worker totals.
    wall
        Wall time of the whole drain in the parent, including merging outputs.
    merge_wall
        Wall time the parent spent merging output parts, while the tasks ran and after.
    merge_after_wall
        The part of it after the last task had ended (the rest overlapped the tasks).
    cpu
        CPU time of all tasks plus the parent's.
    overhead_per_task
        ``(wall × workers − Σ task wall) / tasks``: start-up, transport, scheduling and
        idle time per task.
    outputs
        The files each output module's data ended up in, by module name.
    """

    executor: str
    n_workers: int
    tasks: list[TaskReport]
    wall: float
    parent_cpu: float
    merge_wall: float
    parent_peak_mb: float
    workers: list[WorkerReport] = field(default_factory=list)
    cycle_wall: RunningStats = field(default_factory=RunningStats)
    cycle_cpu: RunningStats = field(default_factory=RunningStats)
    modules: dict[str, ModuleStats] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    merge_after_wall: float = 0.0

    def __post_init__(self) -> None:
        by_worker: dict[str, WorkerReport] = {}
        for t in self.tasks:
            w = by_worker.setdefault(t.worker, WorkerReport(t.worker))
            w.tasks += 1
            w.cycles += t.cycles
            w.wall += t.wall
            w.cpu += t.cpu
            w.peak_mb = max(w.peak_mb, t.peak_mb)
            if t.cycle_wall is not None:
                self.cycle_wall.merge(t.cycle_wall)
            if t.cycle_cpu is not None:
                self.cycle_cpu.merge(t.cycle_cpu)
            for name, ms in t.modules.items():
                if name not in self.modules:
                    self.modules[name] = ModuleStats(RunningStats(), RunningStats())
                agg = self.modules[name]
                agg.wall.merge(ms.wall)
                agg.cpu.merge(ms.cpu)
                agg.finish_wall += ms.finish_wall
                agg.finish_cpu += ms.finish_cpu
        self.workers = sorted(by_worker.values(), key=lambda w: w.worker)

    @property
    def cycles(self) -> int:
        """Cycles of all tasks together."""
        return sum(t.cycles for t in self.tasks)

    @property
    def cpu(self) -> float:
        """CPU seconds of the parent and of all tasks together."""
        return self.parent_cpu + sum(t.cpu for t in self.tasks)

    @property
    def peak_mb(self) -> float:
        """The highest peak resident memory of any worker process."""
        return max((t.peak_mb for t in self.tasks), default=0.0)

    @property
    def overhead_per_task(self) -> float:
        """Worker seconds per task not spent running a task (start-up, transfer, idle)."""
        if not self.tasks:
            return 0.0
        busy = sum(t.wall for t in self.tasks)
        return max(0.0, self.wall * self.n_workers - busy) / len(self.tasks)

    def text(self) -> str:
        """The summary as printed at the end of the drain."""
        lines = [
            "=" * 5,
            (f"{self.cycles} cycles drained in {len(self.tasks)} tasks by {self.executor} in "
             f"{self.wall:.6f}s (CPU {self.cpu:.6f}s, merging outputs {self.merge_wall:.3f}s, "
             f"{self.merge_after_wall:.3f}s of it after the tasks). "
             f"Memory peak: {self.peak_mb:.2f} MB per worker, {self.parent_peak_mb:.2f} MB "
             f"parent"),
            f"  overhead per task: {self.overhead_per_task:.4f}s",
        ]
        for w in self.workers:
            lines.append(f"  worker {w.worker}: {w.tasks} tasks, {w.cycles} cycles, "
                         f"wall {w.wall:.3f}s, CPU {w.cpu:.3f}s, peak {w.peak_mb:.1f} MB")
        lines.append(self.cycle_wall.line("wall"))
        lines.append(self.cycle_cpu.line("CPU"))
        for name, ms in self.modules.items():
            lines.append(f"{name} - process: {ms.wall.total:.3f}s (CPU {ms.cpu.total:.3f}s)"
                         f" - finish: {ms.finish_wall:.3f}s (CPU {ms.finish_cpu:.3f}s)")
            lines.append(ms.wall.line("wall"))
            lines.append(ms.cpu.line("CPU"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()
