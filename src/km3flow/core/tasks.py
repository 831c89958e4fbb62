"""Task drains: split a pipeline into tasks over its pump's files, run them, join the results.

``Pipeline.drain(executor=…)``/``drain(workers=…)`` calls :func:`drain_tasks`. Work is
split over the pump's input files: the pump class names the parameter that holds them
(``parallel_input = "filenames"``, or a tuple of names it accepts, the first one given
is used); every task rebuilds the whole chain from the module specs with that parameter
set to its share of the files. An output module names the parameter holding its output
path (``parallel_output = "filename"``); each task writes ``<path>.part-<k>`` and the
parent merges the parts as the tasks finish (:mod:`km3flow.core.part_merge`), with the
module class's ``part_merger`` or ``merge_outputs(part_paths, final_path)``.
The tasks themselves are run by an :class:`~km3flow.core.executor.Executor`.
"""

from __future__ import annotations

import os
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, Km3flowError, WorkerError, WorkerInterrupted
from ..logger import get_logger, say
from .blob import Blob
from .executor import Executor, Task, TaskReport
from .module import Module, Pump
from .part_merge import PartStream
from .task_summary import ParallelSummary
from .timing import peak_memory_mb

if TYPE_CHECKING:
    from .pipeline import ModuleSpec, Pipeline

log = get_logger("TaskDrain")


@dataclass
class OutputSpec:
    """An output file written in parts by the workers and merged by the parent."""

    module: str
    param: str
    path: str
    factory: type[Module]


def part_path(path: str, index: int) -> str:
    """The name of task ``index``'s part of output ``path``: ``<path>.part-<index>``."""
    return f"{path}.part-{index}"


# "auto" tasks: about this many tasks per worker, each of consecutive files up to this size
_TASKS_PER_WORKER = 8
_TASK_BYTES = 64 * 2**20


def _auto_chunks(files: list[str], n_workers: int) -> list[list[str]]:
    """Consecutive files grouped into tasks: several small files per task, so that a task's
    fixed cost (rebuilding the chain, creating and merging its part file, ~50 ms) is paid
    about ``_TASKS_PER_WORKER`` times per worker rather than once per file; a task stops
    at ``_TASK_BYTES`` of input, so big files stay one per task and the load balances."""
    target = max(1, len(files) // (_TASKS_PER_WORKER * max(1, n_workers)))
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for f in files:
        current.append(f)
        try:
            size += os.path.getsize(f)
        except OSError:
            size = _TASK_BYTES  # the task will report the missing file
        if len(current) >= target or size >= _TASK_BYTES:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


def plan_tasks(pipe: Pipeline, files_per_task: int | str = 1,
               n_workers: int = 1, merge: bool = True) -> tuple[list[Task], list[OutputSpec]]:
    """Split ``pipe`` into tasks over its pump's input files.

    ``files_per_task`` is a number, or ``"auto"``: groups of consecutive small files
    (about 8 tasks per worker of ``n_workers``; at most 64 MiB of input per task unless
    a single file is larger). With ``merge`` the output modules write their parts with
    the parameters of their ``part_parameters`` (e.g. HDF5Sink's parts are uncompressed:
    the merge compresses once).

    Raises
    ------
    ConfigError
        When the pipeline cannot be split: the pump declares no ``parallel_input``, a
        module was attached as a live instance, an output module cannot merge parts.
    """
    if files_per_task != "auto" and (not isinstance(files_per_task, int)
                                     or files_per_task < 1):
        raise ConfigError(f"files_per_task must be a positive integer or 'auto', got "
                          f"{files_per_task!r}")
    specs = list(pipe.specs)
    if not specs:
        raise ConfigError("cannot drain an empty pipeline in parallel")
    for spec in specs:
        if isinstance(spec.factory, Module):
            raise ConfigError(
                f"module '{spec.name}' was attached as a live instance; to run in parallel, "
                f"attach its class with parameters (attach({type(spec.factory).__name__}, "
                f"...)) so that workers can rebuild it")
    pump = specs[0]
    factory = pump.factory
    if not (isinstance(factory, type) and issubclass(factory, Pump)):
        raise ConfigError(f"the first module '{pump.name}' is not a Pump; parallel draining "
                          f"splits the work over a pump's input files")
    declared = factory.parallel_input
    if not declared:
        raise ConfigError(
            f"pump {factory.__name__} does not say which parameter holds its input files "
            f"(class attribute parallel_input, e.g. 'filenames'), so its work cannot be split")
    # A pump may accept its files under one of several names (filename / filenames).
    candidates = (declared,) if isinstance(declared, str) else tuple(declared)
    param = next((c for c in candidates if pump.params.get(c) is not None), None)
    if param is None:
        raise ConfigError(f"pump '{pump.name}' got none of the parameters "
                          f"{', '.join(repr(c) for c in candidates)} to split over")
    value = pump.params[param]
    single = isinstance(value, (str, os.PathLike))
    files = [os.fspath(value)] if single else [os.fspath(v) for v in value]
    if not files:
        raise ConfigError(f"pump '{pump.name}' got an empty '{param}' list")
    outputs = _plan_outputs(specs)
    if single:
        chunks = [files]
    elif files_per_task == "auto":
        chunks = _auto_chunks(files, n_workers)
    else:
        step = int(files_per_task)  # an int here: "auto" was handled above
        chunks = [files[i:i + step] for i in range(0, len(files), step)]
    tasks = []
    for k, share in enumerate(chunks):
        new_specs = [replace(pump, params={**pump.params, param: share[0] if single else share})]
        for spec in specs[1:]:
            params = dict(spec.params)
            for out in outputs:
                if out.module == spec.name:
                    params[out.param] = part_path(out.path, k)
                    if merge:
                        params = out.factory.part_parameters(params)
            new_specs.append(replace(spec, params=params))
        tasks.append(Task(index=k, n_tasks=len(chunks), specs=new_specs, timeit=pipe.timeit,
                          input_files=share,
                          outputs={o.module: part_path(o.path, k) for o in outputs}))
    return tasks, outputs


def _plan_outputs(specs: list[ModuleSpec]) -> list[OutputSpec]:
    outputs = []
    for spec in specs[1:]:
        factory = spec.factory
        if not (isinstance(factory, type) and issubclass(factory, Module)):
            continue
        param = factory.parallel_output
        if not param:
            continue
        if spec.params.get(param) is None:
            # Every worker would write the module's default path: they would collide.
            raise ConfigError(f"output module '{spec.name}' needs an explicit '{param}' "
                              f"parameter to run in parallel")
        if not factory.can_merge_outputs():
            raise ConfigError(f"output module {factory.__name__} declares parallel_output but "
                              f"has no merge_outputs(part_paths, final_path) classmethod")
        path = os.fspath(spec.params[param])
        outputs.append(OutputSpec(spec.name, param, path, factory))
    paths = [os.path.abspath(o.path) for o in outputs]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"several output modules write the same file: {paths}")
    return outputs


def check_picklable(task: Task) -> None:
    """Raise ConfigError naming the module whose spec cannot be sent to worker processes."""
    for spec in task.specs:
        try:
            pickle.dumps(spec)
        except Exception as err:
            raise ConfigError(
                f"module '{spec.name}' cannot be sent to worker processes ({err}); "
                f"lambdas and classes or functions defined inside functions cannot be "
                f"pickled: define them at module level") from err


def remove_stale_parts(outputs: list[OutputSpec]) -> None:
    """Remove ``<path>.part-<k>`` (and ``….partial``) files left by an earlier failed run."""
    import glob  # only task drains need it; keeps `import km3flow.core` light

    for out in outputs:
        # an incomplete task's sink keeps its part as <path>.part-<k>.partial
        pattern = re.compile(re.escape(os.path.basename(out.path)) + r"\.part-\d+(\.partial)?$")
        for stale in glob.glob(glob.escape(out.path) + ".part-*"):
            if pattern.match(os.path.basename(stale)):
                log.warning("removing '%s' left by an earlier parallel run", stale)
                os.remove(stale)


def numbered_path(path: str, index: int, n_tasks: int) -> str:
    """Where task ``index``'s output goes when parts are kept: ``out.h5`` → ``out.0003.h5``."""
    root, ext = os.path.splitext(path)
    return f"{root}.{index:0{max(4, len(str(n_tasks - 1)))}d}{ext}"


def keep_parts(outputs: list[OutputSpec], reports: list[TaskReport]) -> dict[str, list[str]]:
    """Rename every task's part to a numbered file of its own instead of merging."""
    kept: dict[str, list[str]] = {}
    for out in outputs:
        kept[out.module] = []
        for r in reports:
            part = part_path(out.path, r.index)
            if os.path.exists(part):
                target = numbered_path(out.path, r.index, len(reports))
                os.replace(part, target)
                kept[out.module].append(target)
    return kept


def combine_results(specs: list[ModuleSpec], reports: list[TaskReport]) -> dict[str, Any]:
    """Combine per-task finish() results: with the module's ``merge`` classmethod, or a list."""
    combined: dict[str, Any] = {}
    for spec in specs:
        values = [r.results[spec.name] for r in reports if spec.name in r.results]
        if not values:
            continue
        factory = spec.factory
        merge = getattr(factory, "merge", None) if isinstance(factory, type) else None
        if callable(merge):
            try:
                combined[spec.name] = merge(values)
            except Exception as err:
                raise Km3flowError(f"{factory.__name__}.merge failed to combine the finish() "
                                   f"results of {len(values)} tasks: {type(err).__name__}: "
                                   f"{err}") from err
        else:
            combined[spec.name] = values
    return combined


def drain_tasks(pipe: Pipeline, executor: Executor, cycles: int | None = None,
                ordered: bool = True, files_per_task: int | str = "auto", merge: bool = True,
                progress: bool = False) -> Blob:
    """Drain ``pipe`` with one task per input file (or chunk of files) on ``executor``.

    Called by ``Pipeline.drain(executor=…)`` / ``drain(workers=…)``. Every task rebuilds
    the module chain from the pipeline's specs with the pump's ``parallel_input``
    parameter set to its file(s); output modules with ``parallel_output`` write
    ``<path>.part-<k>`` files that the parent merges into ``<path>`` as the tasks
    report, while the remaining tasks run (:class:`~km3flow.core.part_merge.PartStream`);
    ``<path>`` appears once all tasks succeeded. The pipeline's own module instances are
    never drained.

    Parameters
    ----------
    pipe
        The pipeline; its pump must be attached as a class that declares
        ``parallel_input``.
    executor
        What runs the tasks.
    cycles
        Not supported (a cycle limit has no per-file meaning); must be None.
    ordered
        Merge output parts and list finish() results in input order (the serial run's
        order). ``False`` uses the order in which tasks completed.
    files_per_task
        How many input files one task handles (for pumps taking a list of files). The
        default ``"auto"`` gives each task several consecutive files when there are many
        small ones (about 8 tasks per worker, at most 64 MiB of input per task unless one
        file is bigger), one file per task otherwise; see :func:`plan_tasks`.
    merge
        Merge the output parts into the output path (default). ``False`` keeps one output
        per task instead, renamed from ``out.h5.part-3`` to ``out.0003.h5`` (listed in
        ``pipe.parallel_summary.outputs``): for very large runs, where one process
        rewriting all data would be the bottleneck.
    progress
        Show a progress bar (:class:`~km3flow.core.progress.RunProgress`: input bytes,
        files and events done, rate, ETA) that moves as tasks finish; silent when
        printing is off (``km3flow -q``).

    Returns
    -------
    Blob
        The finish() results by module name: combined with the module class's ``merge``
        classmethod where it has one, else a list with one entry per task.

    Raises
    ------
    WorkerError
        A module failed in a task; names worker, module, cycle and input file(s).
    WorkerLost
        A worker process died (e.g. SIGKILL); names the file it was processing.
    KeyboardInterrupt
        After Ctrl-C, once all workers are stopped.
    """
    if cycles is not None:
        raise ConfigError("cycles= cannot be combined with workers=/executor=: a cycle limit "
                          "has no meaning per input file; limit the input files instead")
    if pipe.finished:
        raise Km3flowError("this pipeline has been drained and finished already; "
                           "build a new one to run again")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tasks, outputs = plan_tasks(pipe, files_per_task=files_per_task,
                                n_workers=getattr(executor, "n_workers", 1), merge=merge)
    pipe.hand_over()
    remove_stale_parts(outputs)
    say(f"Draining {len(tasks)} tasks over {sum(len(t.input_files) for t in tasks)} input "
          f"files with {executor.description}.")
    listeners: list[Callable[[TaskReport], None]] = []
    bar = None
    if progress:
        bar, on_progress = _task_progress(tasks)
        listeners.append(on_progress)
    # Parts are merged in the parent as their tasks report, while the workers go on.
    stream = PartStream(outputs, tasks, ordered) if merge and outputs else None
    if stream is not None:
        listeners.append(stream.add)
    listening = _listen(executor, listeners)
    try:
        try:
            reports = executor.run(tasks)
        finally:
            if bar is not None:
                bar.close()
            if listening:
                executor.on_report = None  # type: ignore[attr-defined]
        by_task = sorted(reports, key=lambda r: r.index)
        _raise_for_failures(by_task, len(tasks))
    except BaseException:
        if stream is not None:
            stream.abort()
        raise
    ordered_reports = by_task if ordered else reports
    merge0 = time.perf_counter()
    if stream is not None:
        stream.finish(ordered_reports)
        kept = {o.module: [o.path] for o in outputs}
    else:
        kept = keep_parts(outputs, by_task)
    merge_after = time.perf_counter() - merge0
    results = combine_results(pipe.specs, ordered_reports)
    summary = ParallelSummary(
        executor=executor.description, n_workers=executor.n_workers, tasks=by_task,
        wall=time.perf_counter() - wall0, parent_cpu=time.process_time() - cpu0,
        merge_wall=merge_after if stream is None else stream.wall, merge_after_wall=merge_after,
        parent_peak_mb=peak_memory_mb(), outputs=kept)
    pipe.record_task_drain(summary, results)
    say(summary.text())
    return pipe.finish_results


def _task_progress(tasks: list[Task]) -> tuple[Any, Callable[[TaskReport], None]]:
    """A progress bar over the tasks' input bytes, and the report listener that moves it."""
    from .progress import RunProgress, file_sizes

    sizes = {t.index: sum(file_sizes(t.input_files)) for t in tasks}
    bar = RunProgress(sum(len(t.input_files) for t in tasks), sum(sizes.values()))

    def on_report(report: TaskReport) -> None:
        if report.status == "done":
            bar.add(files=len(report.input_files), events=report.cycles,
                    nbytes=sizes.get(report.index, 0))

    return bar, on_report


def _listen(executor: Executor, listeners: list[Callable[[TaskReport], None]]) -> bool:
    """Have ``executor`` hand each report to ``listeners`` as it arrives (``on_report``).

    Returns False when there is nothing to listen for or the executor takes no
    attributes: the progress bar then moves, and the parts are merged, at the end.
    """
    if not listeners:
        return False

    def on_report(report: TaskReport) -> None:
        for listener in listeners:
            listener(report)

    try:
        executor.on_report = on_report  # type: ignore[attr-defined]
    except AttributeError:
        log.debug("%s takes no on_report callback", type(executor).__name__)
        return False
    return True


def _raise_for_failures(reports: list[TaskReport], n_tasks: int) -> None:
    failed = [r for r in reports if r.status == "failed"]
    interrupted = [r for r in reports if r.status == "interrupted"]
    done = [r for r in reports if r.status == "done"]
    if not failed and not interrupted and len(done) == n_tasks:
        return
    parts_note = ("no output was merged; part files of tasks that ran are left named "
                  "'<output>.part-<task>' ('<output>.part-<task>.partial' when incomplete)")
    if failed:
        first = min(failed, key=lambda r: r.ended)
        err = first.error
        assert err is not None
        files = ", ".join(repr(f) for f in first.input_files)
        # A ModuleError's message names the module and cycle already.
        where = "" if err.module else " while building the pipeline"
        message = (f"worker {first.worker} failed on {files} (task {first.index}){where}: "
                   f"{err.message}; {len(done)} of {n_tasks} tasks completed, {parts_note}")
        error = WorkerError(message, module=err.module, cycle=err.cycle, worker=first.worker,
                            task=first.index, input_files=first.input_files,
                            remote_traceback=err.traceback)
        if err.exception is not None:
            raise error from err.exception
        raise error
    if interrupted:
        first = interrupted[0]
        raise WorkerInterrupted(
            f"worker {first.worker} was stopped by a signal while processing "
            f"{', '.join(repr(f) for f in first.input_files)} (task {first.index}); "
            f"{parts_note}")
    raise Km3flowError(f"only {len(done)} of {n_tasks} tasks completed; {parts_note}")
