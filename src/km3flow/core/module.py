"""Module and Pump: the building blocks a Pipeline is made of.

A :class:`Module` is configured once (``configure``), prepared once before the first
cycle (``prepare``), called once per cycle (``process``) and finished once (``finish``).
A :class:`Pump` is the first module of a pipeline: it produces the blobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, ClassVar

from ..exceptions import ParameterError, ServiceNotFound
from ..logger import Km3Logger, get_logger, get_printer
from .blob import Blob

_MISSING = object()


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


class Services(dict):
    """The services exposed by modules of one pipeline: name → callable."""

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        available = ", ".join(sorted(self)) or "none"
        raise ServiceNotFound(f"no service named '{key}'; available services: {available}")


class Module:
    """Base class of pipeline modules.

    Parameters are passed as keyword arguments (usually through ``Pipeline.attach``) and
    read in :meth:`configure` with :meth:`get` and :meth:`require`.

    Class attributes
    ----------------
    requires_services
        Names of services this module uses; the pipeline checks at attach time that an
        earlier module exposes them.
    """

    requires_services: ClassVar[tuple[str, ...]] = ()

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
        self.configure()

    # -- parameters ---------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """Return parameter ``key``, or ``default`` when it was not given."""
        self._used_parameters.add(key)
        return self.parameters.get(key, default)

    def require(self, key: str) -> Any:
        """Return parameter ``key``; raise ``TypeError`` when it was not given."""
        self._used_parameters.add(key)
        value = self.parameters.get(key, _MISSING)
        if value is _MISSING:
            raise ParameterError(f"{self.__class__} requires the parameter '{key}'.")
        return value

    @property
    def unused_parameters(self) -> list[str]:
        """Parameters that were passed but never read with ``get``/``require``."""
        return sorted(set(self.parameters) - self._used_parameters)

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
    """

    def __init__(self, name: str | None = None, **parameters: Any) -> None:
        self._iterator: Iterator[Blob] | None = None
        super().__init__(name=name, **parameters)

    # Subclasses override one of the two access paths.
    def get_blob(self, index: int) -> Blob:
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

    def __enter__(self) -> "Pump":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
