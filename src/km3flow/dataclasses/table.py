"""Table: a structured numpy array (``np.recarray``) with the metadata HDF5 I/O needs.

The metadata are ``h5loc`` (where the table goes in an HDF5 file), ``split_h5`` (one
array per column instead of one compound table), ``name`` (the table's title) and
``h5singleton`` (written once per file, e.g. headers). They survive slicing, fancy
indexing and sorting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..exceptions import Km3flowError
from .templates import TEMPLATES

DEFAULT_H5LOC = "/misc"
DEFAULT_NAME = "Generic Table"
_META = ("h5loc", "split_h5", "name", "h5singleton")


class TableError(Km3flowError, ValueError):
    """A Table cannot be built or changed as asked (ragged columns, unknown columns …)."""


def _check_h5loc(h5loc: str) -> str:
    if not isinstance(h5loc, str) or not h5loc.startswith("/") or "//" in h5loc or (
        len(h5loc) > 1 and h5loc.endswith("/")
    ):
        raise TableError(
            f"bad h5loc {h5loc!r}: expected an absolute HDF5 path like '/hits' or '/reco/tracks'"
        )
    return h5loc


def _from_dict(data: Mapping[str, Any], dtype: Any) -> np.ndarray:
    columns = {k: np.asarray(v) for k, v in data.items()}
    lengths = {k: v.shape[0] for k, v in columns.items() if v.ndim > 0}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise TableError(f"ragged columns, all must have the same length ({detail})")
    n = next(iter(lengths.values()), 1)
    if dtype is None:
        dtype = np.dtype([(k, v.dtype, v.shape[1:]) for k, v in columns.items()])
    else:
        dtype = np.dtype(dtype)
        missing = [k for k in dtype.names if k not in columns]
        if missing:
            raise TableError(f"columns {missing} of the dtype are not in the data")
    out = np.empty(n, dtype=dtype)
    for name in dtype.names:
        out[name] = columns[name]  # scalars broadcast
    return out


class Table(np.recarray):
    """A 2D table of named columns; a ``np.recarray`` with HDF5 metadata.

    Parameters
    ----------
    data
        A dict of columns (scalars are broadcast), a structured array, or a list of
        rows/columns (then give ``dtype``; see :meth:`from_rows` and :meth:`from_columns`).
    h5loc
        The HDF5 location, ``/misc`` by default.
    dtype
        The structured dtype to use (optional for dicts and structured arrays).
    split_h5
        Store one array per column under ``h5loc`` instead of one compound table.
    name
        A title for the table; ``Generic Table`` by default.
    h5singleton
        Write this table only once per file.

    Examples
    --------
    >>> tab = Table({'a': [1.0, 2.0], 'b': True}, h5loc='/x', name='X')
    >>> tab
    X <class 'km3flow.dataclasses.Table'> (rows: 2)
    >>> tab.b
    array([ True,  True])
    """

    def __new__(
        cls,
        data: Any,
        h5loc: str = DEFAULT_H5LOC,
        dtype: Any = None,
        split_h5: bool = False,
        name: str | None = None,
        h5singleton: bool = False,
        **kwargs: Any,
    ) -> "Table":
        if isinstance(data, Mapping):
            arr = _from_dict(data, dtype)
        elif isinstance(data, np.ndarray) and data.dtype.names is not None:
            arr = data if dtype is None else data.astype(dtype)
        elif isinstance(data, np.ndarray) and data.dtype.names is None and data.size == 0:
            if dtype is None:
                raise TableError("an empty Table needs a dtype")
            arr = np.empty(0, dtype=dtype)
        elif dtype is not None:
            arr = np.rec.fromrecords(list(data), dtype=dtype) if len(data) else np.empty(0, dtype)
        else:
            raise TableError(
                "Table data must be a dict of columns or a structured array; "
                "for rows or column lists pass a dtype (or use from_rows/from_columns)"
            )
        if arr.ndim == 0:
            arr = arr.reshape(1)
        obj = np.asarray(arr).view(cls)
        obj.h5loc = _check_h5loc(h5loc)
        obj.split_h5 = bool(split_h5)
        obj.name = DEFAULT_NAME if name is None else name
        obj.h5singleton = bool(h5singleton)
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        super().__array_finalize__(obj)  # recarray turns the dtype into a record dtype
        self.h5loc = getattr(obj, "h5loc", DEFAULT_H5LOC)
        self.split_h5 = getattr(obj, "split_h5", False)
        self.name = getattr(obj, "name", DEFAULT_NAME)
        self.h5singleton = getattr(obj, "h5singleton", False)

    def __reduce__(self) -> Any:
        constructor, args, state = super().__reduce__()
        return constructor, args, (state, tuple(getattr(self, m) for m in _META))

    def __setstate__(self, state: Any) -> None:
        base_state, meta = state
        super().__setstate__(base_state)
        for key, value in zip(_META, meta):
            setattr(self, key, value)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]], dtype: Any, **meta: Any) -> "Table":
        """Build a table from an iterable of row tuples."""
        rows = [tuple(r) for r in rows]
        arr = np.array(rows, dtype=dtype) if rows else np.empty(0, dtype=dtype)
        return cls(arr, **meta)

    @classmethod
    def from_columns(cls, columns: Sequence[Any], dtype: Any, **meta: Any) -> "Table":
        """Build a table from a list of column arrays in the order of ``dtype``'s fields."""
        dtype = np.dtype(dtype)
        if len(columns) != len(dtype.names):
            raise TableError(
                f"{len(columns)} columns given for a dtype with {len(dtype.names)} fields"
            )
        return cls(dict(zip(dtype.names, columns)), dtype=dtype, **meta)

    @classmethod
    def from_template(cls, data: Any, template: str) -> "Table":
        """Build a table with the dtype, h5loc and split mode of a named template."""
        try:
            tmpl = TEMPLATES[template]
        except KeyError:
            raise TableError(
                f"no template '{template}'; available: {', '.join(sorted(TEMPLATES))}"
            ) from None
        return cls(
            data,
            dtype=tmpl["dtype"],
            h5loc=tmpl["h5loc"],
            split_h5=tmpl["split_h5"],
            h5singleton=tmpl["h5singleton"],
            name=template,
        )

    @classmethod
    def from_dataframe(cls, df: Any, **meta: Any) -> "Table":
        """Build a table from a pandas DataFrame (the index is dropped)."""
        return cls(df.to_records(index=False), **meta)

    @classmethod
    def merge(cls, tables: Sequence["Table"], **meta: Any) -> "Table":
        """Concatenate tables with the same columns into one (a single allocation).

        Metadata come from the first table unless given.
        """
        tables = list(tables)
        if not tables:
            raise TableError("nothing to merge")
        first = tables[0]
        names = first.dtype.names
        for t in tables[1:]:
            if t.dtype.names != names:
                raise TableError(
                    f"cannot merge tables with columns {names} and {t.dtype.names}"
                )
        arr = np.concatenate([np.asarray(t) for t in tables])
        for key in _META:
            meta.setdefault(key, getattr(first, key, None))
        return cls(arr, **meta)

    concatenate = merge

    # -- columns -------------------------------------------------------------------------
    def __getattribute__(self, attr: str) -> Any:
        # recarray serves fields as attributes; make a typo name the available columns.
        try:
            return super().__getattribute__(attr)
        except AttributeError:
            names = np.ndarray.__getattribute__(self, "dtype").names or ()
            raise AttributeError(
                f"Table has no column or attribute '{attr}'; columns: {', '.join(names)}"
            ) from None

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str) and item not in (self.dtype.names or ()):
            raise KeyError(
                f"Table has no column '{item}'; columns: {', '.join(self.dtype.names or ())}"
            )
        return super().__getitem__(item)

    def _vector(self, prefix: str) -> np.ndarray:
        names = self.dtype.names or ()
        if prefix in names:
            return np.asarray(self[prefix])
        cols = [f"{prefix}_{c}" for c in "xyz"]
        missing = [c for c in cols if c not in names]
        if missing:
            raise AttributeError(f"Table has no columns {missing} for '{prefix}'")
        return np.column_stack([np.asarray(self[c]) for c in cols])

    @property
    def pos(self) -> np.ndarray:
        """An (n, 3) array of ``pos_x, pos_y, pos_z``."""
        return self._vector("pos")

    @property
    def dir(self) -> np.ndarray:
        """An (n, 3) array of ``dir_x, dir_y, dir_z``."""
        return self._vector("dir")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.dtype.names or ())

    def append_columns(self, colnames: str | Sequence[str], values: Any) -> "Table":
        """Return a new table with columns added (a scalar value is broadcast)."""
        if isinstance(colnames, str):
            colnames, values = [colnames], [values]
        colnames = list(colnames)
        values = list(values)
        if len(colnames) != len(values):
            raise TableError("append_columns needs one value per column name")
        clash = [c for c in colnames if c in self.columns]
        if clash:
            raise TableError(f"columns {clash} already exist")
        arrays = [np.broadcast_to(np.asarray(v), (len(self),) + np.shape(v)[1:]) if np.ndim(v)
                  else np.full(len(self), v) for v in values]
        for c, a in zip(colnames, arrays):
            if a.shape[0] != len(self):
                raise TableError(f"column '{c}' has {a.shape[0]} rows, the table {len(self)}")
        dtype = np.dtype(self.dtype.descr + [(c, a.dtype, a.shape[1:]) for c, a in
                                             zip(colnames, arrays)])
        out = np.empty(len(self), dtype=dtype)
        for name in self.columns:
            out[name] = self[name]
        for c, a in zip(colnames, arrays):
            out[c] = a
        return self._with_meta(out)

    def drop_columns(self, colnames: str | Sequence[str]) -> "Table":
        """Return a new table without the given columns."""
        if isinstance(colnames, str):
            colnames = [colnames]
        unknown = [c for c in colnames if c not in self.columns]
        if unknown:
            raise TableError(f"no columns {unknown}; columns: {', '.join(self.columns)}")
        keep = [c for c in self.columns if c not in colnames]
        out = np.empty(len(self), dtype=[(c, self.dtype[c]) for c in keep])
        for c in keep:
            out[c] = self[c]
        return self._with_meta(out)

    def sorted(self, by: str | Sequence[str], kind: str = "stable") -> "Table":
        """Return a copy sorted by one or more columns."""
        keys = [by] if isinstance(by, str) else list(by)
        unknown = [c for c in keys if c not in self.columns]
        if unknown:
            raise TableError(f"no columns {unknown}; columns: {', '.join(self.columns)}")
        if len(keys) == 1:
            order = np.argsort(np.asarray(self[keys[0]]), kind=kind)
        else:
            order = np.lexsort([np.asarray(self[k]) for k in reversed(keys)])
        return self[order]

    def to_dataframe(self) -> Any:
        """Return a pandas DataFrame of the table (pandas is imported here)."""
        import pandas as pd

        return pd.DataFrame.from_records(np.asarray(self))

    def _with_meta(self, arr: np.ndarray) -> "Table":
        return Table(arr, h5loc=self.h5loc, split_h5=self.split_h5, name=self.name,
                     h5singleton=self.h5singleton)

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{self.name} {self.__class__} (rows: {self.size})"

    def __str__(self) -> str:
        split = "split" if self.split_h5 else "no split"
        lines = [f"{self.name} {self.__class__}", f"HDF5 location: {self.h5loc} ({split})"]
        for name in self.dtype.names or ():
            col = np.asarray(self[name])
            lines.append(f"{col.dtype.str} (dtype: {name}) = {col}")
        return "\n".join(lines)


# Show the public path in reprs, as KM3Pipe's "km3pipe.dataclasses.Table" did.
Table.__module__ = "km3flow.dataclasses"
