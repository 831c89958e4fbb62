"""The Pipeline: attaches modules and drains blobs through them, cycle by cycle.

Construction data of every module (factory, name, parameters, conditions) is kept in
:class:`ModuleSpec` records apart from the live instances, so the same pipeline can be
rebuilt in worker processes (:meth:`Pipeline.from_specs`).
"""

from __future__ import annotations

import json
import os
import reprlib
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import Interrupted, Km3flowError, ModuleError, ParameterError, ServiceNotFound
from ..logger import get_logger, get_printer, say
from .blob import Blob
from .config import Parameter, describe_parameter, did_you_mean, load_pipeline_config
from .executor import resolve_executor
from .module import Module, Pump, Services
from .tasks import drain_tasks
from .timing import FOLD_EVERY, DurationRecorder, IntervalRecorder, peak_memory_mb
from ..exceptions import ConfigError

log = get_logger("Pipeline")
_print = get_printer("Pipeline")


@dataclass
class ModuleSpec:
    """What is needed to build a module: its factory, name, parameters and conditions."""

    factory: Any
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    every: int | None = None
    only_if: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The module as JSON-able data: name, factory, kind, parameters, conditions."""
        factory = self.factory
        qualname = getattr(factory, "__qualname__", type(factory).__qualname__)
        return {
            "name": self.name,
            "module": f"{getattr(factory, '__module__', '?')}.{qualname}",
            "kind": "function" if _is_function(factory) else "class",
            "every": self.every,
            "only_if": list(self.only_if),
            "params": {k: _jsonable(v) for k, v in self.params.items()},
            "declared": [{k: _jsonable(v) for k, v in p.describe().items()}
                         for p in self.declarations().values()],
        }

    def declarations(self) -> dict[str, Parameter]:
        """The parameters the module's class declares (none for functions)."""
        factory = self.factory
        cls = type(factory) if isinstance(factory, Module) else factory
        if isinstance(cls, type) and issubclass(cls, Module):
            return dict(cls.declared_parameters)
        return {}




def _no_call(blob: Blob) -> Blob:
    """The first call of a pipeline without modules (never made: such a drain is not plain)."""
    return blob


def _is_function(obj: Any) -> bool:
    return callable(obj) and not isinstance(obj, type) and not isinstance(obj, Module)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        if "\n" in text or len(text) > 200:
            text = f"<{type(value).__module__}.{type(value).__qualname__} object>"
        return text


class _Entry:
    """A live module in the chain, with the data the drain loop needs."""

    __slots__ = ("name", "call", "module", "every", "only_if", "timer", "spec")

    def __init__(self, spec: ModuleSpec, module: Module | None, call: Callable) -> None:
        self.spec = spec
        self.name = spec.name
        self.module = module
        self.call = call
        self.every = spec.every
        self.only_if = spec.only_if
        self.timer = DurationRecorder()


class Pipeline:
    """A chain of modules through which blobs are drained.

    Parameters
    ----------
    timeit
        Also record wall and CPU time of every module's ``process`` and report it.
    configfile
        A TOML file with one ``[section]`` per module name; its values take precedence
        over keyword arguments given to :meth:`attach`.
    """

    def __init__(self, timeit: bool = False,
                 configfile: str | os.PathLike | None = None) -> None:
        self.timeit = timeit
        self.services = Services()
        self.specs: list[ModuleSpec] = []
        self._entries: list[_Entry] = []
        self._init_wall = 0.0
        self._init_cpu = 0.0
        self._prepared = False
        self._finished = False
        self.interrupted = False
        self._guard = _SignalGuard()
        self.error: BaseException | None = None
        self.cycles = 0
        self.parallel_summary: Any = None  # the summary of a task drain (drain(executor=…))
        self.configfile = None if configfile is None else os.fspath(configfile)
        self._config: dict[str, dict[str, Any]] = {}
        self._config_used: set[str] = set()
        self.cycle_times = IntervalRecorder()
        self.finish_results = Blob()
        # Services every pipeline offers, for sinks (provenance) and progress bars.
        self.services["pipeline_description"] = lambda: self.describe(fmt="json")
        self.services["input_files"] = self.input_files
        self.services["drain_status"] = self.drain_status
        if self.configfile is not None:
            log.warning(
                "Keep in mind that the module configuration file has precedence over "
                "keyword arguments in the attach method!"
            )
            _print(f"Reading module configuration from '{self.configfile}'")
            self._config = load_pipeline_config(self.configfile)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def from_specs(cls, specs: Iterable[ModuleSpec], **kwargs: Any) -> Pipeline:
        """Rebuild a pipeline from module specs (e.g. in a worker process)."""
        pipe = cls(**kwargs)
        for spec in specs:
            pipe.attach(spec.factory, name=spec.name, every=spec.every,
                        only_if=list(spec.only_if) or None, **spec.params)
        return pipe

    def attach(self, module_factory: Any, name: str | None = None, every: int | None = None,
               only_if: str | Iterable[str] | None = None, **params: Any) -> Pipeline:
        """Attach a module: a ``Module`` subclass, a function ``f(blob)`` or an instance.

        Parameters
        ----------
        module_factory
            The module class, a plain function taking and returning a blob, or an
            already built ``Module``.
        name
            The module's name (defaults to the class or function name); several instances
            of one class need different names.
        every
            Run only on every ``every``-th cycle (cycles 0, every, 2·every, …).
        only_if
            A blob key, or several, that must all be present for the module to run.
        **params
            Parameters of the module (read with ``self.get``/``self.require``), or keyword
            arguments of a function module.
        """
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if isinstance(only_if, str):
            only_if_keys: tuple[str, ...] = (only_if,)
        else:
            only_if_keys = tuple(only_if or ())
        if isinstance(module_factory, Module):
            base_name = module_factory.name
        else:
            base_name = getattr(module_factory, "__name__", type(module_factory).__name__)
        name = name or base_name
        name = self._unique_name(name)
        if name in self._config:
            params = {**params, **self._config[name]}
            self._config_used.add(name)
        spec = ModuleSpec(module_factory, name, dict(params), every, only_if_keys)

        if isinstance(module_factory, Module):
            module = module_factory
            module.name = name
            self.services.update(module.services)  # what it exposed before being attached
            module.services = self.services
            call: Callable = module.process
        elif isinstance(module_factory, type) and issubclass(module_factory, Module):
            missing = [s for s in module_factory.requires_services if s not in self.services]
            if missing:
                raise ServiceNotFound(
                    f"module '{name}' needs the services {missing}, which no module attached "
                    f"before it exposes; available services: "
                    f"{', '.join(sorted(self.services)) or 'none'}"
                )
            try:
                module = module_factory(name=None if name == base_name else name,
                                        services=self.services, **params)
            except ParameterError as err:
                raise self._config_parameter_error(err, name) from err
            module.name = name
            call = module.process
        elif callable(module_factory):
            module = None
            call = self._function_call(module_factory, name, params)
        else:
            raise TypeError(f"cannot attach {module_factory!r}: not a Module or a function")
        if module is not None:
            module.every = every
            module.only_if = only_if_keys
            if not self._entries and isinstance(module, Pump) and module.random_access:
                self.services["n_cycles"] = _blaming(module.__len__, name)
        self.specs.append(spec)
        self._entries.append(_Entry(spec, module, call))
        self._init_wall += time.perf_counter() - t_wall
        self._init_cpu += time.process_time() - t_cpu
        return self

    def _config_parameter_error(self, err: ParameterError, name: str) -> ParameterError:
        """``err``, naming the configuration file when the parameter came from there."""
        if err.parameter is None or err.parameter not in self._config.get(name, {}):
            return err
        return ParameterError(f"configuration file '{self.configfile}', section [{name}]: {err}",
                              module=err.module, parameter=err.parameter)

    def _unique_name(self, name: str) -> str:
        taken = {e.name for e in self._entries}
        if name not in taken:
            return name
        i = 2
        while f"{name}_{i}" in taken:
            i += 1
        log.debug("a module named '%s' exists already, naming this one '%s_%d'", name, name, i)
        return f"{name}_{i}"

    @staticmethod
    def _function_call(func: Callable, name: str, params: dict[str, Any]) -> Callable:
        if not params:
            return func
        import inspect  # only function modules with parameters need it; keeps import light

        try:
            sig = inspect.signature(func)
            accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            unknown = [] if accepts_any else [k for k in params if k not in sig.parameters]
        except (TypeError, ValueError):
            unknown = []
        if unknown:
            known = [k for k in sig.parameters if k != next(iter(sig.parameters), None)]
            hints = ", ".join(f"'{k}'{did_you_mean(k, known)}" for k in unknown)
            raise ParameterError(f"function module '{name}' has no parameters {hints}",
                                 module=name, parameter=unknown[0])

        def call(blob: Blob) -> Any:
            return func(blob, **params)

        return call

    def input_files(self) -> list[str]:
        """The input files of the attached pumps.

        Read from the parameters a pump declares as its ``parallel_input``; for pumps that
        declare none, from ``filename``/``filenames``/``filepath``/``input``.
        """
        files: list[str] = []
        for spec in self.specs:
            factory = spec.factory
            cls = type(factory) if isinstance(factory, Pump) else factory
            if not (isinstance(cls, type) and issubclass(cls, Pump)):
                continue
            declared = cls.parallel_input
            names = ((declared,) if isinstance(declared, str) else tuple(declared or ())) or (
                "filename", "filenames", "filepath", "input")
            for key in names:
                value = spec.params.get(key)
                if isinstance(value, (str, os.PathLike)):
                    files.append(os.fspath(value))
                elif isinstance(value, (list, tuple)):
                    files.extend(os.fspath(v) for v in value)
        return files

    def drain_status(self) -> dict[str, Any]:
        """How the drain went so far: cycles, and whether it was interrupted or failed.

        Sinks record it (a file written after Ctrl-C or an error says so in its provenance).
        """
        return {
            "cycles": self.cycles,
            "interrupted": self.interrupted,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
            "complete": not self.interrupted and self.error is None,
        }

    @property
    def finished(self) -> bool:
        """True once the pipeline has drained and every module has finished."""
        return self._finished

    @property
    def module_timers(self) -> dict[str, DurationRecorder]:
        """The per-module process/finish timing records (filled when ``timeit`` is on)."""
        return {e.name: e.timer for e in self._entries}

    @property
    def modules(self) -> list[Any]:
        """The attached modules in order (Module instances, or functions)."""
        return [e.module if e.module is not None else e.spec.factory for e in self._entries]

    # -- describing ----------------------------------------------------------------------
    def describe(self, fmt: str = "text") -> str:
        """Describe the attached modules in order: as readable text or as JSON."""
        records = [s.describe() for s in self.specs]
        if fmt == "json":
            return json.dumps({"timeit": self.timeit, "configfile": self.configfile,
                               "modules": records}, indent=1)
        if fmt != "text":
            raise ValueError(f"fmt must be 'text' or 'json', not {fmt!r}")
        lines = [f"Pipeline with {len(records)} module{'s' if len(records) != 1 else ''}:"]
        for i, r in enumerate(records):
            cond = []
            if r["every"]:
                cond.append(f"every={r['every']}")
            if r["only_if"]:
                cond.append(f"only_if={r['only_if']}")
            params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
            extra = "  [" + ", ".join(cond) + "]" if cond else ""
            lines.append(f"  {i}: {r['name']} ({r['module']}){extra}")
            if params:
                lines.append(f"       {params}")
            if r["declared"]:
                lines.append("       declared parameters:")
                lines.extend(f"         {describe_parameter(d)}" for d in r["declared"])
        return "\n".join(lines)

    @reprlib.recursive_repr("<this Pipeline>")
    def __repr__(self) -> str:
        return self.describe()

    # -- draining ------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._prepared:
            return
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        for section in self._config:
            if section not in self._config_used:
                log.warning("section [%s] of '%s' matches no attached module",
                            section, self.configfile)
        for entry in self._entries:
            if entry.module is not None:
                try:
                    entry.module.prepare()
                except ModuleError as err:
                    if err.module in (None, entry.name):
                        raise ModuleError(f"module '{entry.name}' failed in prepare(): {err}",
                                          module=entry.name) from err
                    raise  # e.g. the pump failed while a progress bar asked for its length
                except Exception as err:
                    raise ModuleError(f"module '{entry.name}' failed in prepare(): "
                                      f"{type(err).__name__}: {err}", module=entry.name) from err
        self._prepared = True
        self._init_wall += time.perf_counter() - t_wall
        self._init_cpu += time.process_time() - t_cpu

    def drain(self, cycles: int | None = None, *, executor: Any = None,
              workers: int | None = None, ordered: bool | None = None,
              files_per_task: int | None = None, merge: bool | None = None,
              progress: bool | None = None) -> Blob:
        """Run the pipeline for at most ``cycles`` cycles, or until the pump is exhausted.

        Every module's ``finish()`` runs at the end, also after an error or Ctrl-C (or
        SIGTERM); the error, or the ``KeyboardInterrupt``, is raised again afterwards.
        A signal that arrives while the pump waits for data stops the drain at once; one
        that arrives after the pump delivered a blob lets that cycle complete first (a
        second signal stops at once), so the summary's cycle count is the number of blobs
        every module saw, e.g. the number a sink at the end wrote. SIGTERM raises
        :class:`~km3flow.exceptions.Interrupted`, a ``KeyboardInterrupt`` that knows the
        signal number.

        Parameters
        ----------
        cycles
            The maximum number of cycles; ``None`` runs until a module (the pump) raises
            ``StopIteration``.
        executor
            Drain as tasks, one per input file of the pump, on this executor (see
            :mod:`km3flow.core.executor`): an ``Executor``, a registered name such as
            ``"serial"``, or a ``dask.distributed.Client``.
        workers
            Drain as tasks on this many local worker processes (:mod:`km3flow.parallel`).
        ordered, files_per_task, merge, progress
            Options of a task drain (with ``executor`` or ``workers`` only); see
            :func:`km3flow.core.tasks.drain_tasks`.

        Returns
        -------
        Blob
            The non-``None`` results of the modules' ``finish()``, keyed by module name.

        Raises
        ------
        ConfigError
            ``cycles`` is ``None`` and no :class:`~km3flow.core.module.Pump` is attached:
            nothing would ever end the run.
        """
        if executor is not None or workers is not None:
            given_options = (("ordered", ordered), ("files_per_task", files_per_task),
                             ("merge", merge), ("progress", progress))
            options: dict[str, Any] = {k: v for k, v in given_options if v is not None}
            return drain_tasks(self, resolve_executor(executor, workers), cycles, **options)
        given = [k for k, v in (("ordered", ordered), ("files_per_task", files_per_task),
                                ("merge", merge), ("progress", progress)) if v is not None]
        if given:
            raise TypeError(f"drain() got {', '.join(repr(k) for k in given)}, which only "
                            f"apply to a drain with executor= or workers=")
        if self._finished:
            raise Km3flowError("this pipeline has been drained and finished already; "
                               "build a new one to run again")
        if cycles is None and not any(isinstance(e.module, Pump) for e in self._entries):
            # KM3Pipe loops forever here; a user who forgot the pump would wait for nothing.
            raise ConfigError("drain() without a pump needs a cycle count: attach a Pump "
                              "(a subclass of km3flow.core.Pump) or call drain(n)")
        error: BaseException | None = None
        guard = self._guard = _SignalGuard()
        restore = guard.install()
        drain_wall, drain_cpu = time.perf_counter(), time.process_time()
        try:
            self._prepare()  # inside the try: a failing prepare() still finishes every module
            say(f"Pipeline and module initialisation took {self._init_wall:.3f}s "
                f"(CPU {self._init_cpu:.3f}s).")
            self._cycle_loop(cycles)
        except KeyboardInterrupt as err:
            self.interrupted = True
            error = err
            log.warning("interrupted after %d cycles; finishing all modules", self.cycles)
        except BaseException as err:  # noqa: BLE001 - re-raised after finishing
            error = err
        finally:
            restore()
        self.error = error
        self.cycle_times.fold(keep_last=False)
        finish_error = self._finish()
        drain_wall = time.perf_counter() - drain_wall
        drain_cpu = time.process_time() - drain_cpu
        self._print_summary(drain_wall, drain_cpu)
        if error is not None:
            raise error
        if finish_error is not None:
            raise finish_error
        return self.finish_results

    def hand_over(self) -> None:
        """Give this pipeline's drain to tasks that rebuild it (a task drain).

        Closes what the attached pumps opened and marks the pipeline as used: its own
        module instances are never drained.
        """
        for module in self.modules:
            if isinstance(module, Pump):
                module.close()
        self._finished = True

    def record_task_drain(self, summary: Any, results: dict[str, Any]) -> None:
        """Take the statistics and finish() results of a task drain as this pipeline's.

        ``summary`` is the drain's :class:`~km3flow.core.task_summary.ParallelSummary`
        (kept as ``parallel_summary``); cycle and module timings are merged in, as if
        this pipeline had drained.
        """
        self.cycles = summary.cycles
        self.cycle_times.wall_stats.merge(summary.cycle_wall)
        self.cycle_times.cpu_stats.merge(summary.cycle_cpu)
        for name, timer in self.module_timers.items():
            stats = summary.modules.get(name)
            if stats is not None:
                timer.wall_stats.merge(stats.wall)
                timer.cpu_stats.merge(stats.cpu)
                timer.finish_wall += stats.finish_wall
                timer.finish_cpu += stats.finish_cpu
        self.parallel_summary = summary
        self.finish_results.update(results)

    def _cycle_loop(self, cycles: int | None) -> None:
        entries = self._entries
        plain = (bool(entries) and not self.timeit
                 and all(e.every is None and not e.only_if for e in entries))
        calls = [e.call for e in entries]
        # `plain` needs at least one module: the first call exists whenever it is used
        first_call, later_calls = (calls[0], calls[1:]) if calls else (_no_call, [])
        timeit = self.timeit
        wall, cpu = time.perf_counter, time.process_time
        recorder = self.cycle_times
        new_blob = Blob
        cycle = self.cycles
        guard = self._guard
        entry = None
        call = None
        # Cycles run in chunks so the per-cycle work is two clock reads and two list
        # appends; the chunk's timestamps are folded into running statistics after it.
        try:
            while True:
                chunk = FOLD_EVERY if cycles is None else min(FOLD_EVERY, cycles - cycle)
                if chunk <= 0:
                    break
                tw_append, tc_append = recorder.wall.append, recorder.cpu.append
                # (the loop variable is the cycle number: no counter to add to per cycle)
                for cycle in range(cycle, cycle + chunk):  # noqa: B020
                    tw_append(wall())
                    tc_append(cpu())
                    blob = new_blob()
                    if plain:
                        call = first_call
                        blob = call(blob)
                        guard.defer = True  # the pump delivered: finish this cycle first
                        if type(blob) is not Blob and blob is not None:
                            blob = self._check_blob(blob, call)
                        if blob is not None:
                            for call in later_calls:
                                blob = call(blob)
                                if type(blob) is not Blob:
                                    if blob is None:
                                        break
                                    blob = self._check_blob(blob, call)
                    else:
                        for entry in entries:
                            if entry.every is not None and cycle % entry.every:
                                continue
                            if entry.only_if and not all(k in blob for k in entry.only_if):
                                continue
                            if timeit:
                                t0, c0 = wall(), cpu()
                                blob = entry.call(blob)
                                entry.timer.wall.append(wall() - t0)
                                entry.timer.cpu.append(cpu() - c0)
                            else:
                                blob = entry.call(blob)
                            guard.defer = True
                            if type(blob) is not Blob:
                                if blob is None:
                                    break
                                blob = self._check_blob(blob, entry.call)
                    guard.defer = False
                    if guard.pending:
                        cycle += 1
                        raise _interrupt(guard.pending)
                cycle += 1  # the chunk's last cycle is complete
                recorder.fold()
                if timeit:
                    for e in entries:
                        e.timer.fold()
        except StopIteration:
            recorder.wall.pop()
            recorder.cpu.pop()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:
            failed = self._entry_for(entry, call, plain)
            name = failed.name if failed is not None else "?"
            raise ModuleError(
                f"module '{name}' failed in cycle {cycle}: {type(err).__name__}: {err}",
                module=name, cycle=cycle,
            ) from err
        finally:
            self.cycles = cycle
            if len(recorder.wall) > len(recorder.cpu):
                recorder.wall.pop()  # an interrupt between the two clock reads
            recorder.wall.append(wall())
            recorder.cpu.append(cpu())
            for e in entries:
                e.timer.fold()

    def _entry_for(self, entry: _Entry | None, call: Callable | None, plain: bool) -> Any:
        if not plain:
            return entry
        for e in self._entries:
            if e.call is call:
                return e
        return None

    def _check_blob(self, blob: Any, call: Callable) -> Blob:
        if isinstance(blob, Blob):
            return blob  # a subclass, e.g. a reader's LazyBlob: as it is (no copy)
        if isinstance(blob, dict):
            return Blob(blob)
        entry = next((e for e in self._entries if e.call is call), None)
        name = entry.name if entry else getattr(call, "__name__", "?")
        raise TypeError(f"module '{name}' returned {type(blob).__name__}, expected a Blob, "
                        f"a dict or None")

    def _finish(self) -> BaseException | None:
        first_error: BaseException | None = None
        results = self.finish_results
        for entry in self._entries:
            if entry.module is None:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                result = entry.module.finish()
            except KeyboardInterrupt as err:  # a second Ctrl-C: the others still finish
                log.error("module '%s' interrupted in finish()", entry.name)
                first_error = first_error or err
                result = None
            except Exception as err:  # noqa: BLE001 - every module must get its finish
                log.error("module '%s' failed in finish(): %s: %s",
                          entry.name, type(err).__name__, err)
                if first_error is None:
                    first_error = ModuleError(
                        f"module '{entry.name}' failed in finish(): {type(err).__name__}: {err}",
                        module=entry.name)
                    first_error.__cause__ = err
                result = None
            entry.timer.finish_wall = time.perf_counter() - t0
            entry.timer.finish_cpu = time.process_time() - c0
            if result is not None:
                results[entry.name] = result
        self._finished = True
        return first_error

    def _print_summary(self, wall: float, cpu: float) -> None:
        rec = self.cycle_times
        # A run that did not complete says so in its summary's first line: a timing summary
        # alone reads like success.
        outcome = (" (interrupted)" if self.interrupted
                   else " (stopped by an error)" if self.error is not None else "")
        lines = [
            "=" * 5,
            f"{self.cycles} cycles drained{outcome} in {wall:.6f}s (CPU {cpu:.6f}s). "
            f"Memory peak: {peak_memory_mb():.2f} MB",
            rec.wall_stats.line("wall"),
            rec.cpu_stats.line("CPU"),
        ]
        if self.timeit:
            for e in self._entries:
                t = e.timer
                lines.append(
                    f"{e.name} - process: {t.wall_stats.total:.3f}s (CPU {t.cpu_stats.total:.3f}s)"
                    f" - finish: {t.finish_wall:.3f}s (CPU {t.finish_cpu:.3f}s)"
                )
                lines.append(t.wall_stats.line("wall"))
                lines.append(t.cpu_stats.line("CPU"))
        say("\n".join(lines))


def _blaming(length: Callable[[], int], name: str) -> Callable[[], int]:
    """The pump's ``len()`` as a service whose errors name the pump, not the caller.

    A progress bar asks for it in its ``prepare()``; when the pump cannot count its blobs
    (a truncated file), the error is the pump's.
    """

    def n_cycles() -> int:
        try:
            return length()
        except Exception as err:
            raise ModuleError(f"module '{name}' failed counting its blobs: "
                              f"{type(err).__name__}: {err}", module=name) from err

    return n_cycles


def _interrupt(signum: int) -> KeyboardInterrupt:
    """Ctrl-C is a plain KeyboardInterrupt, as everywhere in Python; others say the signal."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)


class _SignalGuard:
    """SIGINT/SIGTERM handling of one drain (main thread only).

    A signal raises ``KeyboardInterrupt`` (:class:`Interrupted` for SIGTERM) at once unless
    ``defer`` is set (the pump has delivered this cycle's blob); then it is kept in
    ``pending`` and raised at the end of the cycle. A second signal while one is pending
    raises at once.
    """

    __slots__ = ("defer", "pending")  # read and written every cycle

    def __init__(self) -> None:
        self.defer = False
        self.pending = 0

    def handler(self, signum: int, frame: Any) -> None:
        if self.defer and not self.pending:
            self.pending = signum
            return
        raise _interrupt(signum)

    def install(self) -> Callable[[], None]:
        """Install the handlers; returns the function that restores the previous ones."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                current = signal.getsignal(signum)
                # A SIGINT handler of the caller's own (not Python's default) stays.
                if signum == signal.SIGINT and current is not signal.default_int_handler:
                    continue
                previous[signum] = signal.signal(signum, self.handler)
            except (ValueError, OSError):
                continue

        def restore() -> None:
            for signum, old in previous.items():
                signal.signal(signum, old)

        return restore
