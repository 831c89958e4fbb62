"""The Blob: the ordered mapping passed from module to module in each pipeline cycle."""

from __future__ import annotations

from typing import Any

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
