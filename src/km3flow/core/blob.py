"""The Blob: the ordered mapping passed from module to module in each pipeline cycle."""

from __future__ import annotations

from typing import Any

from ..exceptions import Km3flowError
from ..logger import get_logger

_log = get_logger("Blob")


class Blob(dict):
    """An ordered ``dict`` with a readable ``str`` and a helpful missing-key message.

    Examples
    --------
    >>> blob = Blob({'a': 1, 'b': 'foo'})
    >>> print(blob)
    Blob (2 entries):
      'a' => 1
      'b' => 'foo'
    """

    __slots__ = ()

    def __str__(self) -> str:
        if not self:
            return "Blob (0 entries)"
        width = max(len(repr(k)) for k in self)
        lines = [f"Blob ({len(self)} entries):"]
        for key, value in self.items():
            lines.append(f"  {repr(key):<{width}} => {value!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Blob({dict.__repr__(self)})" if self else "Blob()"

    def __missing__(self, key: Any) -> Any:
        available = ", ".join(str(k) for k in self)
        _log.error("No key named '%s' found in Blob. \nAvailable keys: %s", key, available)
        raise KeyError(key)

    def copy(self) -> Blob:
        """A shallow copy, still a :class:`Blob`."""
        return Blob(self)


class Pending(tuple):
    """The placeholder of the entries of a :class:`LazyBlob` that are not built yet.

    A pair ``(build, index)``: ``build(index)`` returns the ``(key, value)`` pairs (an
    iterable) of the real values of all entries of the blob that hold this placeholder
    (one placeholder usually serves all lazy entries of a blob). A :class:`LazyBlob`
    never hands it out.
    """

    __slots__ = ()


_dict_getitem = dict.__getitem__
_dict_get = dict.get
_dict_setitem = dict.__setitem__
_dict_items = dict.items
_dict_values = dict.values
# switches a LazyBlob to Blob in place (same layout: both only add __slots__ = ())
_set_class = object.__dict__["__class__"].__set__


class LazyBlob(Blob):
    """A :class:`Blob` some of whose entries are built on first use (readers' fast path).

    Pumps that decode many frames at once hand out blobs whose secondary entries (e.g.
    headers and info tables of DAQ frames) hold a :class:`Pending` placeholder. Reading
    such an entry (``blob[key]``, ``get``) or anything that exposes several values
    (``items``, ``values``, ``copy``, ``dict(blob)``, ``==``, ``repr``, pickling …)
    first builds all pending entries and turns the blob into a plain :class:`Blob`
    (``type(blob) is Blob`` from then on). Keys, ``in``, ``len``, setting and deleting
    entries need no building. Users never see a placeholder, only the built values.

    ``isinstance(blob, Blob)`` holds throughout; modules need not know about this class.
    """

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        value = _dict_getitem(self, key)  # Blob.__missing__ on a missing key
        if type(value) is Pending:
            self._build_from(value)
            value = _dict_getitem(self, key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        value = _dict_get(self, key, default)
        if type(value) is Pending:
            self._build_from(value)
            value = _dict_get(self, key, default)
        return value

    def build(self) -> Blob:
        """Build the pending entries, become a plain :class:`Blob` and return ``self``."""
        while type(self) is LazyBlob:
            for value in _dict_values(self):
                if type(value) is Pending:
                    self._build_from(value)
                    break
            else:
                _set_class(self, Blob)
        return self

    def _build_from(self, marker: Pending) -> None:
        for key, value in marker[0](marker[1]):
            # only the entries still pending: the user may have replaced or deleted some
            if _dict_get(self, key) is marker:
                _dict_setitem(self, key, value)
        if Pending not in map(type, _dict_values(self)):
            _set_class(self, Blob)
        elif any(v is marker for v in _dict_values(self)):
            keys = [k for k, v in _dict_items(self) if v is marker]
            raise Km3flowError(f"the builder of a LazyBlob placeholder did not build {keys}")

    # (dict's C code reads the stored values directly; with __iter__ overridden,
    # dict(blob), {**blob}, Blob(blob) and dict.update(blob) go through keys() and
    # __getitem__ instead)
    def __iter__(self) -> Any:
        return dict.__iter__(self)

    def items(self) -> Any:
        return dict.items(self.build())

    def values(self) -> Any:
        return dict.values(self.build())

    def copy(self) -> Blob:
        return Blob(self.build())

    def pop(self, *args: Any) -> Any:
        return dict.pop(self.build(), *args)

    def popitem(self) -> Any:
        return dict.popitem(self.build())

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return dict.setdefault(self.build(), key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyBlob):
            other.build()
        return dict.__eq__(self.build(), other)

    def __ne__(self, other: object) -> bool:
        if isinstance(other, LazyBlob):
            other.build()
        return dict.__ne__(self.build(), other)

    __hash__ = None  # type: ignore[assignment]  # as dict's

    def __or__(self, other: Any) -> Any:
        return dict.__or__(self.build(), other)

    def __ror__(self, other: Any) -> Any:
        return dict.__ror__(self.build(), other)

    def __repr__(self) -> str:
        return Blob.__repr__(self.build())

    def __str__(self) -> str:
        return Blob.__str__(self.build())

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.build().__reduce_ex__(protocol)  # pickled, copied as a plain Blob
