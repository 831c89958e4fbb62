"""Merging the output parts of a task drain while the tasks still run.

Every task of a task drain (:mod:`km3flow.core.tasks`) writes its outputs to part files,
which the parent joins into the final paths. :class:`PartStream` joins them as the
tasks report, in the parent, while the workers go on with the next tasks: in task order
(the serial run's order) each part is merged as soon as the parts before it are, a part
that arrives early waits (its task index is kept, its data stay on disk), so when the
last task ends only its own part is left to merge. With ``ordered=False`` parts are
merged in the order their tasks completed.

Output modules that can merge part by part return an
:class:`~km3flow.core.module.OutputMerger` from ``part_merger``; for the others the parts
are collected and handed to ``merge_outputs`` at the end, as before.

The final files appear only when every task succeeded: each output is merged into a
hidden temporary file that is renamed to the final path at the end, and only then are
its parts removed. A failed or interrupted run removes the temporary files and leaves
every part in place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import Km3flowError
from ..logger import get_logger
from .executor import Task, TaskReport

if TYPE_CHECKING:
    from .module import OutputMerger
    from .tasks import OutputSpec

log = get_logger("TaskDrain")


class _MergeAtEnd:
    """The :class:`OutputMerger` of a module without ``part_merger``: collects the parts
    and calls its ``merge_outputs`` when closed."""

    def __init__(self, factory: Any, final_path: str) -> None:
        self.factory = factory
        self.final_path = final_path
        self.parts: list[str] = []

    def add(self, part_path: str) -> None:
        self.parts.append(part_path)

    def close(self) -> None:
        self.factory.merge_outputs(self.parts, self.final_path)

    def abort(self) -> None:
        self.parts = []


class _Output:
    """One output of the drain: its merger (opened with the first part) and its parts."""

    def __init__(self, spec: OutputSpec, n_tasks: int) -> None:
        self.spec = spec
        self.n_tasks = n_tasks
        directory, name = os.path.split(os.path.abspath(spec.path))
        self.tmp = os.path.join(directory, f".{name}.merging-{os.getpid()}")
        self.merger: OutputMerger | None = None
        self.method = "merge_outputs"
        self.parts: list[str] = []  # merged (or handed to the merger) so far, in order
        self.error: BaseException | None = None

    def _open(self) -> OutputMerger:
        if self.merger is None:
            factory = self.spec.factory
            merger = factory.part_merger(self.tmp, self.n_tasks)
            if merger is None:
                merger = _MergeAtEnd(factory, self.tmp)
            else:
                self.method = "part_merger"
            self.merger = merger
        return self.merger

    def add(self, part: str) -> None:
        self.parts.append(part)
        if self.error is not None:
            return
        try:
            self._open().add(part)
        except Exception as err:  # reported once the run is over, like a merge at the end
            self.error = err
            self.abort()

    def finish(self) -> None:
        """Close the merger, rename the merged file to the final path, remove the parts."""
        if self.error is None:
            try:
                self._open().close()
                self.merger = None
                os.replace(self.tmp, self.spec.path)
            except BaseException as err:
                self.abort()
                if not isinstance(err, Exception):
                    raise  # Ctrl-C while merging: the parts stay, no temporary file
                self.error = err
        if self.error is not None:
            failure = self.error
            raise Km3flowError(
                f"merging the parts of '{self.spec.path}' with {self.spec.factory.__name__}."
                f"{self.method} failed: {type(failure).__name__}: {failure}; the parts are "
                f"left in place: {', '.join(self.parts)}") from failure
        for p in self.parts:
            os.remove(p)

    def abort(self) -> None:
        """Drop the unfinished merged file; the parts stay."""
        merger, self.merger = self.merger, None
        if merger is not None:
            try:
                merger.abort()
            except Exception as err:  # noqa: BLE001 - the file is removed anyway
                log.debug("closing the unfinished '%s' failed: %s", self.tmp, err)
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


class PartStream:
    """Merges the output parts of a task drain as the tasks report.

    Parameters
    ----------
    outputs
        The drain's outputs.
    tasks
        The drain's tasks (each names its part file per output module).
    ordered
        Merge in task order (a part waits for the parts before it); ``False``: in the
        order the reports arrive.

    Attributes
    ----------
    wall
        Wall seconds spent merging so far.
    """

    def __init__(self, outputs: Sequence[OutputSpec], tasks: Sequence[Task],
                 ordered: bool = True) -> None:
        self.outputs = [_Output(o, len(tasks)) for o in outputs]
        self.tasks = {t.index: t for t in tasks}
        self.ordered = ordered
        self.next = min(self.tasks, default=0)  # ordered: the next task index to merge
        self.waiting: set[int] = set()  # ordered: done tasks behind one not yet done
        self.merged: set[int] = set()
        self.wall = 0.0

    def add(self, report: TaskReport) -> None:
        """Merge the parts of a finished task, and of the ones waiting for it."""
        if report.status != "done" or report.index in self.merged:
            return
        if not self.ordered:
            self._merge(report.index)
            return
        self.waiting.add(report.index)
        while self.next in self.waiting:
            self.waiting.discard(self.next)
            self._merge(self.next)
            self.next += 1

    def finish(self, reports: Sequence[TaskReport]) -> None:
        """Merge what is left (in the order of ``reports``) and move every output to its
        final path; the parts are removed.

        Raises
        ------
        Km3flowError
            An output's merge failed; its parts are left in place and named.
        """
        for r in reports:
            if r.index not in self.merged:
                self._merge(r.index)
        for out in self.outputs:
            if len(out.parts) != len(reports):
                log.info("%d of %d tasks wrote no part of '%s'", len(reports) - len(out.parts),
                         len(reports), out.spec.path)
        wall0 = time.perf_counter()
        try:
            for out in self.outputs:
                out.finish()
        except BaseException:
            self.abort()  # the outputs not finished yet; finished ones are in place
            raise
        finally:
            self.wall += time.perf_counter() - wall0

    def abort(self) -> None:
        """Remove the unfinished merged files; every part stays where it is."""
        for out in self.outputs:
            out.abort()

    def _merge(self, index: int) -> None:
        self.merged.add(index)
        wall0 = time.perf_counter()
        try:
            for out in self.outputs:
                part = self.tasks[index].outputs.get(out.spec.module)
                if part is not None and os.path.exists(part):
                    out.add(part)
        finally:
            self.wall += time.perf_counter() - wall0
