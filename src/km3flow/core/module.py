"""Module and Pump: the building blocks a Pipeline is made of.

A :class:`Module` is configured once (``configure``), prepared once before the first
cycle (``prepare``), called once per cycle (``process``) and finished once (``finish``).
A :class:`Pump` is the first module of a pipeline: it produces the blobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..exceptions import ConfigError, ParameterError, ServiceNotFound
from ..logger import Km3Logger, get_logger, get_printer
from .blob import Blob
from .config import Parameter, closest, did_you_mean

if TYPE_CHECKING:
    from typing_extensions import Self

_MISSING = object()


class OutputMerger(Protocol):
    """Joins the part files of a parallel drain one part at a time (see
    :meth:`Module.part_merger`): the parent adds each task's part as soon as it is
    written, in the order of the final file, while later tasks still run."""

    def add(self, part_path: str) -> None:
        """Append the content of ``part_path`` after the parts added before."""

    def close(self) -> None:
        """Finish and close the merged file."""

    def abort(self) -> None:
        """Close the merged file unfinished (the caller removes it)."""


def resolve_index(index: int, n: int, owner: str) -> int:
    """Return ``index`` (negative counts from the end) as a position in ``0..n-1``.

    Raises ``TypeError`` for non-integers and ``IndexError`` naming ``owner`` when out of range.
    """
    if not hasattr(index, "__index__"):
        raise TypeError(f"{owner} indices must be integers, not {type(index).__name__}")
    i = int(index)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"{owner} index {index} out of range for {n} entries")
    return i


# Instance attributes every module has: no declared parameter may use these names.
_RESERVED = frozenset({"name", "logger_name", "log", "print", "parameters", "services",
                       "every", "only_if"})


class Services(dict):
    """The services exposed by modules of one pipeline: name → callable."""

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        available = ", ".join(sorted(self)) or "none"
        raise ServiceNotFound(f"no service named '{key}'; available services: {available}")


class Module:
    """Base class of pipeline modules.

    Parameters are passed as keyword arguments (usually through ``Pipeline.attach``). A
    subclass may declare them as class attributes, ``threshold = Parameter(float,
    default=0.5, help=...)``: their checked values are instance attributes before
    :meth:`configure` runs. KM3Pipe-style modules read them in :meth:`configure` with
    :meth:`get` and :meth:`require` instead; both ways mix. A parameter that is neither
    declared nor read during ``configure`` is an error (:class:`ParameterError` with a
    "did you mean"), unless the class sets ``strict_parameters = False``.

    Attributes
    ----------
    requires_services
        Names of services this module uses; the pipeline checks at attach time that an
        earlier module exposes them.
    declared_parameters
        The :class:`Parameter` declarations by name, collected from the class and its bases.
    strict_parameters
        ``False`` accepts parameters the module neither declares nor reads (e.g. ones it
        forwards to something else).
    parallel_output
        The parameter holding the module's output path, for parallel drains: each task
        then writes ``<path>.part-<k>`` and the parent joins them with :meth:`merge_outputs`.
    """

    requires_services: ClassVar[tuple[str, ...]] = ()
    declared_parameters: ClassVar[dict[str, Parameter]] = {}
    strict_parameters: ClassVar[bool] = True
    parallel_output: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Parameter] = {}
        for base in reversed(cls.__mro__):
            for key, value in vars(base).items():
                if isinstance(value, Parameter):
                    if key in _RESERVED or (key not in declared and hasattr(Pump, key)):
                        raise TypeError(f"{cls.__name__} declares the parameter '{key}', "
                                        f"which is a name Module/Pump uses itself")
                    declared[key] = value
                elif key in declared:  # a subclass replaced the declaration
                    del declared[key]
        cls.declared_parameters = declared

    def __init__(self, name: str | None = None, **parameters: Any) -> None:
        cls_name = self.__class__.__name__
        self.name = name or cls_name
        self.logger_name = cls_name if self.name == cls_name else f"{cls_name}.{self.name}"
        self.log: Km3Logger = get_logger(self.logger_name)
        self.print: Callable[..., None] = get_printer(self.logger_name)
        self.parameters: dict[str, Any] = dict(parameters)
        self._used_parameters: set[str] = set()
        services = self.parameters.pop("services", None)
        self.services: Services = Services() if services is None else services
        self.every: int | None = None
        self.only_if: tuple[str, ...] = ()
        self._declared_values: dict[str, Any] = {}
        self._bind_declared_parameters()
        self.configure()
        self._check_unknown_parameters()

    # -- parameters ---------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """Return parameter ``key``, or ``default`` when it was not given.

        For a declared parameter: its checked value, or its declared default.
        """
        self._used_parameters.add(key)
        if key in self._declared_values:
            return self._declared_values[key]
        return self.parameters.get(key, default)

    def require(self, key: str) -> Any:
        """Return parameter ``key``; raise :class:`ParameterError` (a ``TypeError``) when it
        was not given."""
        self._used_parameters.add(key)
        if key in self._declared_values:
            return self._declared_values[key]
        value = self.parameters.get(key, _MISSING)
        if value is _MISSING:
            raise ParameterError(f"{self.__class__} requires the parameter '{key}'.",
                                 module=self.name, parameter=key)
        return value

    def parameter_error(self, key: str, reason: str) -> ParameterError:
        """A :class:`ParameterError` naming this module and parameter ``key``.

        For modules that check a value read with ``get``: ``raise
        self.parameter_error("keys", "must not be empty")``.
        """
        return ParameterError(f"{self._who()}: parameter '{key}': {reason}",
                              module=self.name, parameter=key)

    def _who(self) -> str:
        cls_name = self.__class__.__name__
        return f"module '{self.name}'" + ("" if self.name == cls_name else f" ({cls_name})")

    def _bind_declared_parameters(self) -> None:
        for key, declaration in self.declared_parameters.items():
            if key in self.parameters:
                try:
                    value = declaration.convert(self.parameters[key])
                except (TypeError, ValueError) as err:
                    raise self.parameter_error(key, str(err)) from err
            elif declaration.required:
                given = [k for k in self.parameters if k not in self.declared_parameters]
                close = closest(key, given)
                hint = f" It got '{close}': misspelt?" if close else ""
                raise ParameterError(f"{self.__class__} requires the parameter '{key}'.{hint}",
                                     module=self.name, parameter=key)
            else:
                value = declaration.default
            self._declared_values[key] = value
            setattr(self, key, value)

    def _check_unknown_parameters(self) -> None:
        unknown = self.unused_parameters
        if not unknown:
            return
        if not self.strict_parameters:
            self.log.debug("parameters not read by the module itself: %s", ", ".join(unknown))
            return
        known = sorted(set(self.declared_parameters) | self._used_parameters)
        what = ", ".join(f"'{k}'{did_you_mean(k, known)}" for k in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ParameterError(
            f"{self._who()} got the unknown parameter{plural} {what}; it takes: "
            f"{', '.join(known) or 'no parameters'}", module=self.name, parameter=unknown[0])

    @property
    def unused_parameters(self) -> list[str]:
        """Parameters that were passed but are neither declared nor read with
        ``get``/``require``."""
        return sorted(set(self.parameters) - self._used_parameters
                      - set(self.declared_parameters))

    @classmethod
    def merge_outputs(cls, part_paths: list[str], final_path: str) -> None:
        """Join the part files of a parallel drain into ``final_path`` (output modules).

        Output modules declaring :attr:`parallel_output` override this classmethod; the
        base class cannot merge and says so.
        """
        raise ConfigError(f"output module {cls.__name__} declares parallel_output but has "
                          f"no merge_outputs(part_paths, final_path) classmethod")

    @classmethod
    def can_merge_outputs(cls) -> bool:
        """True when the class overrides :meth:`merge_outputs`."""
        own = getattr(cls.merge_outputs, "__func__", cls.merge_outputs)
        # a classmethod accessed on the class is a bound method (mypy types it as a function)
        return own is not Module.merge_outputs.__func__  # type: ignore[attr-defined]

    @classmethod
    def part_parameters(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters with which a task of a parallel drain writes its part.

        Output modules declaring :attr:`parallel_output` may override this classmethod to
        write parts that are cheaper to merge (e.g. uncompressed, leaving the compression
        to the merge). The default returns ``params`` unchanged. Not used when the parts
        are kept instead of merged (``drain(merge=False)``).
        """
        return params

    @classmethod
    def part_merger(cls, final_path: str, n_parts: int) -> OutputMerger | None:
        """An :class:`OutputMerger` writing ``final_path``, or None (the default).

        Output modules that can join their parts one by one return one, so that a
        parallel drain merges each part while the remaining tasks run (for up to
        ``n_parts`` parts). With None the parts are joined by :meth:`merge_outputs` once
        all tasks are done.
        """
        return None

    # -- services -----------------------------------------------------------------------
    def expose(self, obj: Any, name: str) -> None:
        """Make ``obj`` available to all modules of the pipeline as ``services[name]``."""
        if name in self.services:
            self.log.warning("service '%s' is exposed again and replaced", name)
        self.services[name] = obj

    # -- the stages ---------------------------------------------------------------------
    def configure(self) -> None:
        """Read parameters and set up; called once, when the module is attached."""

    def prepare(self) -> None:
        """Called once after all modules are configured, before the first ``process``."""

    def process(self, blob: Blob) -> Blob | None:
        """Handle one blob; return it (changed or not), or ``None`` to drop it."""
        return blob

    def finish(self) -> Any:
        """Called once when draining ends; may return a result (e.g. a dict)."""
        return None

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} '{self.name}'>"


class Pump(Module):
    """A blob source, the first module of a pipeline.

    Subclasses either give random access, implementing ``__len__`` and
    ``get_blob(index) -> Blob``, or stream, implementing ``blob_generator()`` (then
    ``len()`` is not known). The base class provides iteration, ``pump[i]`` (also
    negative), :meth:`process` for the pipeline, and the context-manager protocol, which
    calls :meth:`close`.

    Attributes
    ----------
    parallel_input
        The parameter holding the pump's input file(s), or a tuple of names it accepts
        (the first one given is used): parallel drains split the work over its files.
        ``None`` (the default): the pump cannot be split.
    """

    parallel_input: ClassVar[str | tuple[str, ...] | None] = None

    def __init__(self, name: str | None = None, **parameters: Any) -> None:
        self._iterator: Iterator[Blob] | None = None
        super().__init__(name=name, **parameters)

    # Subclasses override one of the two access paths.
    def get_blob(self, index: int) -> Blob:
        """The blob of entry ``index``; pumps with random access override this."""
        raise TypeError(f"{self.__class__.__name__} does not support random access")

    def blob_generator(self) -> Iterator[Blob]:
        """Yield the blobs in order; the default walks ``get_blob(0..len-1)``."""
        for index in range(len(self)):
            yield self.get_blob(index)

    def __len__(self) -> int:
        raise TypeError(f"the length of {self.__class__.__name__} is not known")

    @property
    def random_access(self) -> bool:
        """True when the subclass implements ``get_blob``."""
        return type(self).get_blob is not Pump.get_blob

    def __getitem__(self, index: int) -> Blob:
        return self.get_blob(resolve_index(index, len(self), self.__class__.__name__))

    def __iter__(self) -> Iterator[Blob]:
        return iter(self.blob_generator())

    def __next__(self) -> Blob:
        if self._iterator is None:
            self._iterator = iter(self.blob_generator())
        return next(self._iterator)

    def process(self, blob: Blob) -> Blob:
        new = next(self)
        if blob:
            blob.update(new)
            return blob
        return new

    def rewind(self) -> None:
        """Start over from the first blob at the next ``process``."""
        self._iterator = None

    def close(self) -> None:
        """Release files or connections; called by ``finish`` and ``__exit__``."""

    def finish(self) -> Any:
        self.close()
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
