"""Header: the Monte Carlo header of a file (EVT, offline ROOT or KM3HDF5), one type for all.

Every reader puts the header of its file into the blob under the one key ``"Header"``
(:data:`HEADER_KEY`) as a :class:`Header`, and :class:`~km3flow.io.hdf5.HDF5Sink` writes it
once to ``/raw_header`` with :meth:`Header.to_table`, in KM3Pipe's layout, which
:meth:`Header.from_table` reads back.

A header maps tags (``can``, ``genvol``, ``spectrum``, ``DAQ``, ``simul`` …) to entries, as
km3io's ``OfflineReader.header`` does: the values of a line are split on whitespace, named
after the KM3NeT header definitions (:data:`HEADER_FIELDS`; positions without a name are
``field_<i>``, values missing from the line ``None``) and converted to ``int`` or ``float``
where they read as numbers. An entry is a namedtuple (``header.can.zmax``,
``header["can"].r``) or, for a tag with one value and no field names, that value
(``header.depth``). Repeated tags (EVT files with three ``simul`` lines) become ``simul``,
``simul_1``, ``simul_2``, as aanet names them.

:meth:`Header.generation` turns the header into the EventInfo columns KM3Pipe 4.x kept per
event (``n_events_gen``, ``n_files_gen``, ``livetime_sec``); the readers fill them from it.
"""

from __future__ import annotations

import functools
import keyword
import re
from collections import namedtuple
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..exceptions import FormatError
from .table import Table

__all__ = ["HEADER_FIELDS", "HEADER_KEY", "Header"]

#: The blob key of the header, for every reader (KM3Pipe's HDF5Pump used it too).
HEADER_KEY = "Header"

#: Field names of the header tags: the KM3NeT definitions km3io 1.2 uses (mc_header).
HEADER_FIELDS: dict[str, tuple[str, ...]] = {
    "DAQ": ("livetime",),
    "seed": ("program", "level", "iseed"),
    "PM1_type_area": ("type", "area", "TTS"),
    "PDF": ("i1", "i2"),
    "model": ("interaction", "muon", "scattering", "numberOfEnergyBins"),
    "can": ("zmin", "zmax", "r"),
    "genvol": ("zmin", "zmax", "r", "volume", "numberOfEvents"),
    "merge": ("time", "gain"),
    "coord_origin": ("x", "y", "z"),
    "translate": ("x", "y", "z"),
    "genhencut": ("gDir", "Emin"),
    "k40": ("rate", "time"),
    "norma": ("primaryFlux", "numberOfPrimaries"),
    "livetime": ("numberOfSeconds", "errorOfSeconds"),
    "flux": ("type", "key", "file_1", "file_2"),
    "spectrum": ("alpha",),
    "fixedcan": ("xcenter", "ycenter", "zmin", "zmax", "radius"),
    "start_run": ("run_id",),
    **{k: ("Emin", "Emax", "cosTmin", "cosTmax")
       for k in ("cut_primary", "cut_seamuon", "cut_in", "cut_nu")},
    **{k: ("program", "version", "date", "time") for k in ("generator", "physics", "simul")},
}

_COLUMNS = ("parameter", "field_names", "field_values", "dtype")
_NONE = "None"  # how KM3Pipe's header2table writes a missing value (dtype a4)
_SUFFIX = re.compile(r"^(.*)_(\d+)$")


_INT_TEXT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def _to_number(text: str) -> Any:
    """``int``, else ``float``, else the text (km3io's ``tools.to_num``)."""
    # (the usual forms without the exceptions of failed conversions, ~1 µs each)
    if _INT_TEXT.match(text):
        return int(text)
    if _FLOAT_TEXT.match(text):
        return float(text)
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


@functools.lru_cache(maxsize=1024)
def _entry_class(tag: str, names: tuple[str, ...]) -> Any:
    """The namedtuple class of a header tag; cached, since making one costs ~40 µs (an
    ``eval``) and every file of a production repeats the same tags."""
    usable = tag.isidentifier() and not tag.startswith("_") and not keyword.iskeyword(tag)
    return namedtuple(tag if usable else "HeaderEntry", names)


def _entry(tag: str, fields: Mapping[str, Any]) -> Any:
    names = tuple(str(n) for n in fields)
    if all(n.isidentifier() and not n.startswith("_") and not keyword.iskeyword(n)
           for n in names) and len(set(names)) == len(names):
        return _entry_class(tag, names)(*fields.values())
    return dict(fields)  # field names a namedtuple cannot take: a plain dict


class Header(Mapping[str, Any]):
    """The MC header of a file: tag → entry (a namedtuple of named fields, or one value).

    Parameters
    ----------
    data
        ``{tag: {field: value}}``, ``{tag: namedtuple}`` or ``{tag: value}``, in file order.

    Examples
    --------
    >>> h = Header.from_text({"can": "0 1027 888.4", "depth": "2440", "seed": "gSeaGen 12"})
    >>> h.can.zmax, h["can"].r, h.depth
    (1027, 888.4, 2440)
    >>> h.seed
    seed(program='gSeaGen', level=12, iseed=None)
    >>> Header.from_table(h.to_table()) == h
    True
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._fields: dict[str, dict[str, Any] | Any] = {}
        self._entries: dict[str, Any] = {}
        for tag, value in (data or {}).items():
            tag = str(tag)
            if hasattr(value, "_asdict"):
                value = value._asdict()
            if isinstance(value, Mapping):
                self._fields[tag] = dict(value)
                self._entries[tag] = _entry(tag, value)
            else:
                self._fields[tag] = value
                self._entries[tag] = value
        self._table: Table | None = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_text(cls, lines: Mapping[str, str]) -> Header:
        """Parse tag → line text (aanet's ``Head`` map), as km3io's ``Header`` does.

        A line with one value and no known field names gives that value; lines without
        values (and without field names) are left out.
        """
        data: dict[str, Any] = {}
        for tag, text in lines.items():
            values = str(text).split()
            fields = list(HEADER_FIELDS.get(tag, ()))
            if len(values) == 1 and not fields:
                data[tag] = _to_number(values[0])
                continue
            if not values and not fields:
                continue
            n = max(len(values), len(fields))
            fields += [f"field_{i}" for i in range(len(fields), n)]
            padded = [_to_number(v) for v in values] + [None] * (n - len(values))
            data[tag] = dict(zip(fields, padded))
        return cls(data)

    @classmethod
    def from_evt(cls, tags: Mapping[str, list[list[str]]]) -> Header:
        """Parse an EVT header (tag → token lists, one per line); repeated tags become
        ``tag``, ``tag_1``, ``tag_2`` … as aanet names them when it reads the file."""
        lines: dict[str, str] = {}
        for tag, entries in tags.items():
            for k, tokens in enumerate(entries):
                lines[tag if k == 0 else f"{tag}_{k}"] = " ".join(tokens)
        return cls.from_text(lines)

    @classmethod
    def from_table(cls, table: Any) -> Header:
        """Read a ``/raw_header`` table (a Table, structured array or PyTables table).

        Values are read from their text (``int`` or ``float`` where they are numbers, so
        they equal km3io's, not rounded to the ``f4`` the table names); ``a<N>`` values stay
        text, and ``None`` (as KM3Pipe writes a missing value) is None. KM3Pipe's names for
        positional fields (``propag_0``, ``propag_1`` …) become ``field_0``, ``field_1`` …
        (km3io's), a lone ``seabottom_0`` the tag's value, and the fields of known tags
        are put in the order of the definitions. Rows without values are skipped, as
        KM3Pipe does.

        Raises
        ------
        FormatError
            The table lacks one of the columns parameter, field_names, field_values, dtype.
        """
        arr = table.read() if hasattr(table, "read") and not isinstance(table, np.ndarray) \
            else np.asarray(table)
        missing = [c for c in _COLUMNS if c not in (arr.dtype.names or ())]
        if missing:
            raise FormatError(f"expected a /raw_header table with the columns "
                              f"{', '.join(_COLUMNS)}; it lacks {', '.join(missing)}")
        data: dict[str, Any] = {}
        for i, row in enumerate(arr):
            tag = _text(row["parameter"])
            values = _text(row["field_values"]).split()
            if not values:
                continue
            names = _text(row["field_names"]).split()
            dtypes = _text(row["dtype"]).split()
            if len(names) != len(values) or len(dtypes) != len(values):
                raise FormatError(f"/raw_header parameter '{tag}': expected as many field "
                                  f"names and dtypes as values, got {len(names)} names, "
                                  f"{len(values)} values and {len(dtypes)} dtypes", row=i)
            parsed = [None if (v == _NONE and d == "a4") else
                      (v if d.startswith(("a", "S", "U")) else _to_number(v))
                      for d, v in zip(dtypes, values)]
            data[tag] = _ordered(tag, dict(zip(names, parsed)))
        return cls(data)

    # -- conversion ------------------------------------------------------------------------
    def to_table(self) -> Table:
        """The header as KM3Pipe's ``/raw_header`` table (an h5singleton Table).

        One row per tag: ``parameter``, and space-separated ``field_names``,
        ``field_values`` and ``dtype`` (``f4`` for numbers, ``a<len>`` for text) byte
        strings; a one-value tag is written as field ``<tag>_0``, a missing value as
        ``None`` (``a4``), as KM3Pipe's ``header2table``. An empty header gives a table of
        no rows with the same four columns.
        """
        if self._table is None:
            rows: dict[str, list[bytes]] = {c: [] for c in _COLUMNS}
            for tag, fields in self._fields.items():
                if not isinstance(fields, dict):
                    fields = {f"{tag}_0": fields}
                texts = [_NONE if v is None else _text(v) for v in fields.values()]
                types = ["a4" if v is None else
                         ("f4" if isinstance(v, (int, float, np.number))
                          and not isinstance(v, bool) else f"a{len(t)}")
                         for v, t in zip(fields.values(), texts)]
                rows["parameter"].append(tag.encode())
                rows["field_names"].append(" ".join(map(str, fields)).encode())
                rows["field_values"].append(" ".join(texts).encode())
                rows["dtype"].append(" ".join(types).encode())
            width = {c: max([len(v) for v in rows[c]] + [1]) for c in _COLUMNS}
            arr = np.empty(len(rows["parameter"]), [(c, f"S{width[c]}") for c in _COLUMNS])
            for c in _COLUMNS:
                arr[c] = rows[c]
            self._table = Table(arr, h5loc="/raw_header", name="RawHeader",
                                h5singleton=True)
        return self._table

    def fields(self, tag: str) -> dict[str, Any]:
        """The fields of ``tag`` as a dict (``{tag: value}`` for a one-value tag)."""
        value = self._fields[self._key(tag)]
        return dict(value) if isinstance(value, dict) else {tag: value}

    def as_dict(self) -> dict[str, Any]:
        """``{tag: {field: value}}`` (``{tag: value}`` for one-value tags), in file order."""
        return {t: dict(v) if isinstance(v, dict) else v for t, v in self._fields.items()}

    # -- generation values -----------------------------------------------------------------
    def generation(self) -> dict[str, int]:
        """The EventInfo columns the header gives: ``n_events_gen``, ``n_files_gen`` and
        ``livetime_sec`` (those it has, as unsigned integers).

        - ``n_events_gen``: ``genvol.numberOfEvents`` (gSeaGen, GENHEN), else ``ngen``
          (GENHEN), when positive;
        - ``n_files_gen``: 1 where ``n_events_gen`` is known (the header of one generator
          run; files merged by Jpp are not told apart);
        - ``livetime_sec``: ``livetime.numberOfSeconds`` (MUPAGE, CORSIKA), else
          ``DAQ.livetime`` (the run a run-by-run simulation reproduces), when positive,
          rounded to whole seconds (the column is an integer; the exact value stays in the
          header).

        Examples
        --------
        >>> Header.from_text({"genvol": "0 1027 888.4 2.649e9 1e5", "DAQ": "394.4"}).generation()
        {'n_events_gen': 100000, 'n_files_gen': 1, 'livetime_sec': 394}
        """
        out: dict[str, int] = {}
        n_gen = _positive(self._value("genvol", "numberOfEvents")) or \
            _positive(self._value("ngen", "ngen"))
        if n_gen:
            out["n_events_gen"] = int(round(n_gen))
            out["n_files_gen"] = 1
        live = _positive(self._value("livetime", "numberOfSeconds")) or \
            _positive(self._value("DAQ", "livetime"))
        if live:
            out["livetime_sec"] = int(round(live))
        return out

    def _value(self, tag: str, field: str) -> Any:
        value = self._fields.get(tag)
        if isinstance(value, dict):
            return value.get(field)
        return value if field == tag else None

    # -- mapping ---------------------------------------------------------------------------
    def _key(self, tag: str) -> str:
        if tag not in self._entries:
            raise KeyError(f"no header tag '{tag}'; present: "
                           f"{', '.join(self._entries) or 'none'}")
        return tag

    def __getitem__(self, tag: str) -> Any:
        return self._entries[self._key(tag)]

    def __getattr__(self, name: str) -> Any:
        entries = self.__dict__.get("_entries")
        if entries is not None and name in entries:
            return entries[name]
        raise AttributeError(f"{type(self).__name__} has no tag or attribute '{name}'")

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Header):
            return self.as_dict() == other.as_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable: __eq__ compares the contents

    def __reduce__(self) -> tuple[Any, ...]:
        # the namedtuple classes are made per header: pickle the plain values instead
        return (type(self), (self.as_dict(),))

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {t for t in self._entries if t.isidentifier()})

    def __repr__(self) -> str:
        tags = list(self._entries)
        return (f"Header({len(tags)} tags: {', '.join(tags[:6])}"
                + (", …)" if len(tags) > 6 else ")"))


def _positive(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _ordered(tag: str, fields: dict[str, Any]) -> dict[str, Any] | Any:
    """KM3Pipe-written fields in km3io's names and order (see :meth:`Header.from_table`)."""
    if len(fields) == 1 and f"{tag}_0" in fields:
        return fields[f"{tag}_0"]
    renamed: dict[str, Any] = {}
    for name, value in fields.items():
        m = _SUFFIX.match(name)
        if m and m.group(1) == tag:
            name = f"field_{m.group(2)}"
        renamed[name] = value
    known = [n for n in HEADER_FIELDS.get(tag, ()) if n in renamed]

    def position(name: str) -> int:
        m = _SUFFIX.match(name)
        return int(m.group(2)) if m and m.group(1) == "field" else -1

    rest = sorted((n for n in renamed if n not in known), key=position)
    return {n: renamed[n] for n in known + rest}
