"""Module parameters: declared parameters, and pipeline configuration files (TOML).

A pipeline configuration file has one TOML section of parameters per module name.
"""

from __future__ import annotations

import numbers
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


_SECTION = re.compile(r"^\s*\[\s*([^\[\]\"'=]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def load_toml(path: str | os.PathLike, what: str = "configuration file", *,
              spaced_sections: bool = False,
              duplicate_hints: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read a TOML file: km3flow's one TOML loader (pipeline and training configurations).

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"configuration file"``, ``"list file"``).
    spaced_sections
        Accept section headers with spaces and no quotes, as the talk writes them
        (``[input xy]`` is read as ``["input xy"]``).
    duplicate_hints
        Key → hint appended when that key is given twice in a section.

    Raises
    ------
    ConfigError
        When the file is missing or unreadable, a key is given twice in a section (naming
        line, key and section), or the text is not TOML; the message names the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fobj:
            text = fobj.read().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what} {path} cannot be read: {err}") from err
    lines = text.splitlines()
    _check_duplicates(path, lines, duplicate_hints or {})
    if spaced_sections:
        for k, line in enumerate(lines):
            m = _SECTION.match(line)
            if m and " " in m.group(1):
                lines[k] = f'["{m.group(1)}"]'
    try:
        return tomllib.loads("\n".join(lines))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {path}: invalid TOML: {err}") from err


def _check_duplicates(path: str, lines: list[str], hints: Mapping[str, str]) -> None:
    """A key given twice in a section, with both lines (tomllib names neither the key's
    first line nor a likely meant other key)."""
    section = ""
    seen: dict[str, int] = {}  # key → line of its first occurrence in the section
    for lineno, line in enumerate(lines, 1):
        m = _SECTION.match(line)
        if m or line.lstrip().startswith("[["):
            section = m.group(1) if m else line.strip()
            seen = {}
            continue
        k = _KEY.match(line)
        if k:
            key = k.group(1).strip('"')
            if key in seen:
                hint = f" ({hints[key]})" if key in hints else ""
                raise ConfigError(f"{path}: line {lineno}: key '{key}' is given twice in "
                                  f"section [{section}] (first on line {seen[key]}){hint}")
            seen[key] = lineno


def load_pipeline_config(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a pipeline configuration: every top-level entry must be a table (a module)."""
    data = load_toml(path)
    for key, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"configuration file '{os.fspath(path)}': top-level key '{key}' must be a "
                f"[section] named after a module, got {type(value).__name__}"
            )
    return data


# -- declared module parameters ------------------------------------------------------------

def describe_parameter(record: dict[str, Any]) -> str:
    """One line for a declared parameter (:meth:`Parameter.describe`'s record)."""
    default = "required" if record["required"] else f"default {record['default']!r}"
    choices = f", one of {record['choices']}" if "choices" in record else ""
    help_text = f" - {record['help']}" if record["help"] else ""
    return f"{record['name']}: {record['type']}, {default}{choices}{help_text}"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a :class:`Parameter` that must be given."""


class Parameter:
    """A declared parameter of a :class:`~km3flow.core.Module`: type, default and help.

    Declared as a class attribute; the module then finds the checked value as an instance
    attribute of the same name before its ``configure()`` runs (``self.get``/``self.require``
    return it too). ``describe()``, ``km3flow`` tools and the TOML check list declared
    parameters; a wrong type or a failed check raises one
    :class:`~km3flow.exceptions.ParameterError` naming module and parameter.

    Parameters
    ----------
    type
        The accepted type, or a tuple of types; ``None`` accepts anything. ``int`` accepts
        any integral number (not ``bool``) and stores an ``int``; ``float`` also accepts
        integers and stores a ``float``. ``None`` is accepted when it is the default.
    default
        The value when the parameter is not given; :data:`REQUIRED` (the default) makes it
        mandatory.
    help
        One line saying what the parameter does.
    choices
        The allowed values, if only a few are.
    check
        A function of the (type-checked) value returning the value to store; it raises
        ``ValueError`` or ``TypeError`` with the reason when the value is not acceptable
        (e.g. ``os.fspath``, or a positivity check).

    Examples
    --------
    >>> from km3flow.core import Module
    >>> class Scale(Module):
    ...     factor = Parameter(float, default=1.0, help="multiply the hit times by this")
    >>> Scale(factor=2).factor
    2.0
    """

    def __init__(self, type: Any = None, default: Any = REQUIRED, help: str = "", *,
                 choices: Iterable[Any] | None = None,
                 check: Callable[[Any], Any] | None = None) -> None:
        self.type = type
        self.default = default
        self.help = help
        self.choices = None if choices is None else tuple(choices)
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is REQUIRED

    def type_name(self) -> str:
        """The accepted type(s) as text: ``int``, ``str | PathLike``, ``any``."""
        if self.type is None:
            return "any"
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        return " | ".join(getattr(t, "__name__", str(t)) for t in types)

    def convert(self, value: Any) -> Any:
        """Return ``value`` checked (and converted, for int/float); raise ValueError/TypeError."""
        if value is None and self.default is None:
            return None
        if self.type is not None:
            value = _check_type(value, self.type, self.type_name())
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in self.choices)}, "
                             f"got {value!r}")
        if self.check is not None:
            value = self.check(value)
        return value

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON-able data: name, type, default (or required), help."""
        record: dict[str, Any] = {"name": self.name, "type": self.type_name(),
                                  "required": self.required, "help": self.help}
        if not self.required:
            record["default"] = self.default
        if self.choices is not None:
            record["choices"] = list(self.choices)
        return record

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        # On the class: the declaration. On an instance the checked value is an instance
        # attribute (set before configure) and shadows this non-data descriptor.
        if obj is None:
            return self
        return self.default if not self.required else None

    def __repr__(self) -> str:
        default = "" if self.required else f", default={self.default!r}"
        return f"Parameter({self.type_name()}{default})"


def _check_type(value: Any, types: Any, name: str) -> Any:
    wanted = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in wanted:
        raise TypeError(f"expected {name}, got bool {value!r}")
    for t in wanted:
        if t is int and isinstance(value, numbers.Integral):
            return int(value)
        if t is float and isinstance(value, numbers.Real):
            return float(value)
        if t not in (int, float) and isinstance(value, t):
            return value
    raise TypeError(f"expected {name}, got {type(value).__name__} {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The one of ``candidates`` closest to ``word`` (a likely misspelling), or None."""
    import difflib  # only for error messages; keeps `import km3flow.core` light

    close = difflib.get_close_matches(word, list(candidates), n=1)
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``candidates``, or ``""``."""
    close = closest(word, candidates)
    return f" (did you mean '{close}'?)" if close else ""
