"""Turn a pipeline's definition into tasks, and the tasks' results back into one result.

Work is split over the pump's input files: the pump class names the parameter that holds
them (``parallel_input = "filenames"``, or a tuple of names it accepts, the first one
given is used); every task rebuilds the whole chain from the
module specs with that parameter set to its share of the files. An output module names
the parameter holding its output path (``parallel_output = "filename"``); each task
writes ``<path>.part-<k>`` and the parent merges the parts with the module class's
``merge_outputs(part_paths, final_path)``.
"""

from __future__ import annotations

import glob
import os
import pickle
import re
from dataclasses import dataclass, replace
from typing import Any

from ..core.module import Module, Pump
from ..core.pipeline import ModuleSpec, Pipeline
from ..exceptions import ConfigError, Km3flowError
from ..logger import get_logger
from .worker import Task, TaskReport

log = get_logger("ParallelPlan")


@dataclass
class OutputSpec:
    """An output file written in parts by the workers and merged by the parent."""

    module: str
    param: str
    path: str
    factory: type


def part_path(path: str, index: int) -> str:
    """The name of task ``index``'s part of output ``path``: ``<path>.part-<index>``."""
    return f"{path}.part-{index}"


def plan_tasks(pipe: Pipeline, files_per_task: int = 1) -> tuple[list[Task], list[OutputSpec]]:
    """Split ``pipe`` into tasks over its pump's input files.

    Raises
    ------
    ConfigError
        When the pipeline cannot be split: the pump declares no ``parallel_input``, a
        module was attached as a live instance, an output module cannot merge parts.
    """
    if not isinstance(files_per_task, int) or files_per_task < 1:
        raise ConfigError(f"files_per_task must be a positive integer, got {files_per_task!r}")
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
    declared = getattr(factory, "parallel_input", None)
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
    chunk = 1 if single else files_per_task

    outputs = _plan_outputs(specs)
    chunks = [files[i:i + chunk] for i in range(0, len(files), chunk)]
    tasks = []
    for k, share in enumerate(chunks):
        new_specs = [replace(pump, params={**pump.params, param: share[0] if single else share})]
        for spec in specs[1:]:
            params = dict(spec.params)
            for out in outputs:
                if out.module == spec.name:
                    params[out.param] = part_path(out.path, k)
            new_specs.append(replace(spec, params=params))
        tasks.append(Task(index=k, n_tasks=len(chunks), specs=new_specs, timeit=pipe.timeit,
                          input_files=share,
                          outputs={o.module: part_path(o.path, k) for o in outputs}))
    return tasks, outputs


def _plan_outputs(specs: list[ModuleSpec]) -> list[OutputSpec]:
    outputs = []
    for spec in specs[1:]:
        factory = spec.factory
        param = getattr(factory, "parallel_output", None) if isinstance(factory, type) else None
        if not param:
            continue
        if spec.params.get(param) is None:
            # Every worker would write the module's default path: they would collide.
            raise ConfigError(f"output module '{spec.name}' needs an explicit '{param}' "
                              f"parameter to run in parallel")
        if not callable(getattr(factory, "merge_outputs", None)):
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


def merge_outputs(outputs: list[OutputSpec], reports: list[TaskReport]) -> None:
    """Merge every output's parts, in the order of ``reports``, into its final path.

    The merge writes a temporary file which is renamed to the final path on success;
    the parts are removed only then. On failure the parts stay and are named.
    """
    for out in outputs:
        parts = [part_path(out.path, r.index) for r in reports]
        present = [p for p in parts if os.path.exists(p)]
        if len(present) != len(parts):
            log.info("%d of %d tasks wrote no part of '%s'",
                     len(parts) - len(present), len(parts), out.path)
        directory, name = os.path.split(os.path.abspath(out.path))
        tmp = os.path.join(directory, f".{name}.merging-{os.getpid()}")
        try:
            out.factory.merge_outputs(present, tmp)
            os.replace(tmp, out.path)
        except BaseException as err:
            if os.path.exists(tmp):
                os.remove(tmp)
            if not isinstance(err, Exception):
                raise  # Ctrl-C while merging: the parts stay, no temporary file
            raise Km3flowError(
                f"merging the parts of '{out.path}' with {out.factory.__name__}.merge_outputs "
                f"failed: {type(err).__name__}: {err}; the parts are left in place: "
                f"{', '.join(present)}") from err
        for p in present:
            os.remove(p)


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
