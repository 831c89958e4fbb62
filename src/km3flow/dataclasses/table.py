"""Table: a structured numpy array (``np.recarray``) with the metadata HDF5 I/O needs.

The metadata are ``h5loc`` (where the table goes in an HDF5 file), ``split_h5`` (one
array per column instead of one compound table), ``name`` (the table's title) and
``h5singleton`` (written once per file, e.g. headers). They survive slicing, fancy
indexing and sorting.

Building, slicing and reading columns of Tables is on the hot path of every pump (a few
small Tables per event), so construction, ``__getitem__``, ``__getattribute__`` and
``__array_finalize__`` avoid the Python-level detours of ``np.recarray`` where they can:
record dtypes and dict-built dtypes are cached, valid ``h5loc`` strings are remembered,
and column access goes straight to the field of a plain ndarray view (see BENCHMARKS.md,
"Tables", for the costs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np

from ..exceptions import Km3flowError
from .templates import TEMPLATES

SortKind = Literal["quicksort", "mergesort", "heapsort", "stable"]

DEFAULT_H5LOC = "/misc"
DEFAULT_NAME = "Generic Table"
_META = ("h5loc", "split_h5", "name", "h5singleton")
_DEFAULT_META = {"h5loc": DEFAULT_H5LOC, "split_h5": False, "name": DEFAULT_NAME,
                 "h5singleton": False}


class TableError(Km3flowError, ValueError):
    """A Table cannot be built or changed as asked (ragged columns, unknown columns …)."""


_nd_getattr = np.ndarray.__getattribute__
_nd_getitem = np.ndarray.__getitem__
_nd_view = np.ndarray.view
_obj_getattr = object.__getattribute__
_ND = np.ndarray
_RECORD = np.record
# Caches bounded by _CACHE_MAX so that programs making endless distinct dtypes or h5locs
# cannot grow them without limit (they are simply cleared when full).
_CACHE_MAX = 4096
_H5LOC_OK: set[str] = set()
_RECORD_DTYPES: dict[np.dtype, np.dtype] = {}
_DICT_DTYPES: dict[tuple, np.dtype] = {}
_NAME_SETS: dict[np.dtype, frozenset] = {}


def _check_h5loc(h5loc: str) -> str:
    if h5loc in _H5LOC_OK and type(h5loc) is str:
        return h5loc
    if not isinstance(h5loc, str) or not h5loc.startswith("/") or "//" in h5loc or (
        len(h5loc) > 1 and h5loc.endswith("/")
    ):
        raise TableError(
            f"bad h5loc {h5loc!r}: expected an absolute HDF5 path like '/hits' or '/reco/tracks'"
        )
    if len(_H5LOC_OK) >= _CACHE_MAX:
        _H5LOC_OK.clear()
    _H5LOC_OK.add(h5loc)
    return h5loc


def _dict_dtype(key: tuple) -> np.dtype | None:
    """The record dtype for (names, column dtypes) of plain numpy dtypes, cached."""
    names, dtypes = key
    if not all(isinstance(d, np.dtype) and d.names is None and not d.shape for d in dtypes):
        return None
    rec = _record_dtype(np.dtype(list(zip(names, dtypes))))
    if len(_DICT_DTYPES) >= _CACHE_MAX:
        _DICT_DTYPES.clear()
    _DICT_DTYPES[key] = rec
    return rec


def _from_dict(data: Mapping[str, Any], dtype: Any) -> np.ndarray:
    if dtype is None and type(data) is dict:
        # The pumps' case, 1-D arrays of one length, checked as cheaply as possible: the
        # dtypes form the cache key, len() catches length-1 columns (numpy would broadcast
        # them) and numpy's assignment refuses any other shape; whatever fails takes the
        # general path below, which gives the error.
        vals = list(data.values())
        try:
            key = (tuple(data), tuple([v.dtype for v in vals]))
            n = len(vals[0])
        except (AttributeError, TypeError, IndexError):
            key = None
        if key is not None:
            rec = _DICT_DTYPES.get(key)
            if rec is None:
                rec = _dict_dtype(key)
            if rec is not None:
                out = np.empty(n, dtype=rec)
                try:
                    for k, v in zip(key[0], vals):
                        if len(v) != n:
                            break
                        out[k] = v
                    else:
                        return out
                except (ValueError, TypeError):
                    pass
    elif dtype is not None:
        if not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)
        names = dtype.names
        if names:
            # Fast path as above: columns of the table's length; scalars, missing
            # columns and other shapes go on to the general code.
            try:
                n = len(data[names[0]])
                out = np.empty(n, dtype=_record_dtype(dtype))
                for name in names:
                    v = data[name]
                    if len(v) != n:
                        break
                    out[name] = v
                else:
                    return out
            except (KeyError, TypeError, ValueError):
                pass
    # One pass converts what is not an array yet, checks the lengths and builds the key
    # of the dtype cache; the usual case (equal lengths, dtype given or seen before) then
    # costs little beyond np.empty and the per-column assignment.
    columns = []
    spec = []
    n = -1
    ragged = False
    converted = False
    for k, v in data.items():
        if type(v) is not _ND:
            v = np.asarray(v)
            converted = True
        columns.append((k, v))
        shape = v.shape
        if shape:
            if shape[0] != n:
                ragged = n >= 0
                n = shape[0]
            spec.append((k, v.dtype, shape[1:]))
        else:
            spec.append((k, v.dtype, shape))
    if ragged:
        detail = ", ".join(f"{k}: {v.shape[0]}" for k, v in columns if v.ndim)
        raise TableError(f"ragged columns, all must have the same length ({detail})")
    if n < 0:
        n = 1
    if dtype is None:
        spec_key = tuple(spec)
        dtype = _DICT_DTYPES.get(spec_key)
        if dtype is None:
            dtype = _record_dtype(np.dtype(spec))
            if len(_DICT_DTYPES) >= _CACHE_MAX:
                _DICT_DTYPES.clear()
            _DICT_DTYPES[spec_key] = dtype
        out = np.empty(n, dtype=dtype)
        for k, v in columns:
            out[k] = v  # scalars broadcast
        return out
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    names = dtype.names
    given = dict(columns) if converted else data
    if names is None or not given.keys() >= _names_set(dtype):
        missing = [k for k in (names or ()) if k not in given]
        raise TableError(
            f"columns {missing} of the dtype are not in the data; "
            f"data has: {', '.join(given)}"
        )
    out = np.empty(n, dtype=_record_dtype(dtype))
    for name in names:
        out[name] = given[name]  # scalars broadcast
    return out


def _conform(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a structured array to ``dtype``, matching fields by name (not position)."""
    if arr.dtype == dtype:
        return arr
    have, want = set(arr.dtype.names or ()), set(dtype.names or ())
    if have != want:
        raise TableError(
            f"cannot convert columns {sorted(have)} to the dtype's columns {sorted(want)}"
        )
    out = np.empty(arr.shape, dtype=dtype)
    for name in dtype.names or ():
        out[name] = arr[name]
    return out


def _infer_dtype(columns: Sequence[Any], colnames: Sequence[str]) -> np.dtype:
    if len(columns) != len(colnames):
        raise TableError(f"{len(columns)} columns given but {len(colnames)} column names")
    return np.dtype([(n, np.asarray(c).dtype) for n, c in zip(colnames, columns)])


def _names_set(dtype: np.dtype) -> frozenset:
    names = _NAME_SETS.get(dtype)
    if names is None:
        names = frozenset(dtype.names or ())
        if len(_NAME_SETS) >= _CACHE_MAX:
            _NAME_SETS.clear()
        _NAME_SETS[dtype] = names
    return names


def _record_dtype(dtype: np.dtype) -> np.dtype:
    """The ``np.record`` flavour of a structured dtype (cached: building one costs ~1 µs)."""
    if dtype.type is _RECORD:
        return dtype
    rec = _RECORD_DTYPES.get(dtype)
    if rec is None:
        rec = np.dtype((_RECORD, dtype))
        if len(_RECORD_DTYPES) >= _CACHE_MAX:
            _RECORD_DTYPES.clear()
        _RECORD_DTYPES[dtype] = rec
    return rec


def _record_view(arr: np.ndarray) -> np.ndarray:
    # A record dtype up front spares recarray's costly dtype reassignment in finalize.
    if arr.dtype.type is np.record:
        return arr
    return arr.view(_record_dtype(arr.dtype))


class Table(np.recarray):
    """A 2D table of named columns; a ``np.recarray`` with HDF5 metadata.

    Parameters
    ----------
    data
        A dict of columns (scalars are broadcast), a structured array, a pandas
        DataFrame, or a list of rows (then give ``dtype``; see :meth:`from_rows` and
        :meth:`from_columns`).
    h5loc
        The HDF5 location, ``/misc`` by default.
    dtype
        The structured dtype to use (optional for dicts and structured arrays; a
        structured array with the same column names in another order is reordered).
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
    >>> 'a' in tab
    True
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
    ) -> Table:
        if kwargs:
            raise TypeError(f"Table got unexpected keyword arguments {sorted(kwargs)}")
        # The common cases first, with exact type checks (isinstance of the Mapping ABC
        # alone costs more than a bare recarray view).
        tp = type(data)
        if (tp is _ND or tp is cls or isinstance(data, _ND)) and data.dtype.names is not None:
            arr = data if dtype is None else _conform(data, np.dtype(dtype))
        elif tp is dict or isinstance(data, Mapping):
            arr = _from_dict(data, dtype)
        elif hasattr(data, "to_records") and hasattr(data, "columns"):  # a DataFrame
            arr = data.to_records(index=False)
            arr = np.asarray(arr) if dtype is None else _conform(np.asarray(arr), np.dtype(dtype))
        elif isinstance(data, np.void) and data.dtype.names is not None:
            arr = np.array([data], dtype=data.dtype)
        elif isinstance(data, np.ndarray) and data.size == 0:
            if dtype is None:
                raise TableError("an empty Table needs a dtype")
            arr = np.empty(0, dtype=dtype)
        elif dtype is not None:
            rows = [tuple(r) for r in data]
            arr = np.array(rows, dtype=dtype) if rows else np.empty(0, dtype)
        else:
            raise TableError(
                "Table data must be a dict of columns or a structured array; "
                "for rows or column lists pass a dtype (or use from_rows/from_columns)"
            )
        if arr.ndim != 1:
            if arr.ndim == 0:
                arr = arr.reshape(1)
            else:
                raise TableError(f"a Table is one-dimensional, got shape {arr.shape}")
        # A record-dtype view first, then the class: view(dtype, type) at once would set
        # the dtype through recarray.__setattr__ (Python, ~1.5 µs).
        obj = _nd_view(_nd_view(arr, _record_dtype(arr.dtype)), cls)
        meta = _obj_getattr(obj, "__dict__")
        meta["h5loc"] = _check_h5loc(h5loc)
        meta["split_h5"] = split_h5 if split_h5 is False else bool(split_h5)
        meta["name"] = DEFAULT_NAME if name is None else name
        meta["h5singleton"] = h5singleton if h5singleton is False else bool(h5singleton)
        return obj

    @classmethod
    def _wrap(cls, arr: np.ndarray, h5loc: str, name: str, split_h5: bool = False,
              h5singleton: bool = False) -> Table:
        """Wrap a 1-D structured array without any checks (readers' fast path)."""
        if arr.dtype.type is not _RECORD:
            arr = _nd_view(arr, _record_dtype(arr.dtype))
        obj = _nd_view(arr, cls)
        meta = _obj_getattr(obj, "__dict__")
        meta["h5loc"] = h5loc
        meta["split_h5"] = split_h5
        meta["name"] = name
        meta["h5singleton"] = h5singleton
        return obj

    @classmethod
    def _split(cls, arr: np.ndarray, offsets: Sequence[int], h5loc: str, name: str,
               split_h5: bool = False, h5singleton: bool = False) -> list[Table]:
        """Tables of the rows ``offsets[k]:offsets[k + 1]`` of a 1-D structured array,
        without checks (readers' fast path: one table per frame of a decoded chunk).

        Every view of a subclass runs the Python ``__array_finalize__`` (~0.3 µs, half the
        cost of a small Table). The views are therefore cut from an :class:`_Unfinalized`
        view, whose class is then switched to ``cls`` (same layout) and whose metadata go
        straight into ``__dict__``; they are indistinguishable from ``_wrap``'s tables.
        Their ``base`` is the table of all rows (with the same metadata).
        """
        if arr.dtype.type is not _RECORD:
            arr = _nd_view(arr, _record_dtype(arr.dtype))
        whole = _nd_view(arr, _Unfinalized)
        meta = {"h5loc": h5loc, "split_h5": split_h5, "name": name,
                "h5singleton": h5singleton}
        out: list[Table] = []
        append = out.append
        start = offsets[0] if len(offsets) else 0
        for stop in offsets[1:]:
            obj: Table = _nd_getitem(whole, slice(start, stop))  # type: ignore[assignment]
            _set_class(obj, cls)
            _obj_getattr(obj, "__dict__").update(meta)
            append(obj)
            start = stop
        _set_class(whole, cls)  # the views' base: a Table too
        _obj_getattr(whole, "__dict__").update(meta)
        return out

    def __array_finalize__(self, obj: Any) -> None:
        dt = _nd_getattr(self, "dtype")
        if dt.type is not _RECORD and dt.names is not None:
            # recarray: field access gives records (numpy's stubs make dtype read-only)
            self.dtype = dt  # type: ignore[misc]
        meta = _obj_getattr(self, "__dict__")
        if type(obj) is _ND:  # a view of a plain array: the defaults (no __dict__ to try)
            meta.update(_DEFAULT_META)
            return
        if isinstance(obj, Table):
            meta.update(_obj_getattr(obj, "__dict__"))
            return
        omd = getattr(obj, "__dict__", None)
        if omd and "h5loc" in omd:
            meta.update(omd)
        else:
            meta.update(_DEFAULT_META)

    def __getattribute__(self, attr: str) -> Any:
        # np.recarray tries the ordinary lookup first and reaches a column only through
        # a raised AttributeError and getfield (which runs __array_finalize__). Columns
        # shadow nothing here either: class attributes and metadata are looked up as
        # usual; any other name is tried as a column of a plain ndarray view.
        if attr in _PLAIN_ATTRS:
            return _obj_getattr(self, attr)
        fields = _nd_getattr(self, "dtype").fields
        if fields is not None and attr in fields:
            col = _nd_getitem(_nd_view(self, _ND), attr)
            if col.dtype.names is None:
                return col
            return np.recarray.__getattribute__(self, attr)  # nested records: as recarray
        return _obj_getattr(self, attr)

    def __reduce__(self) -> Any:
        # ndarray.__reduce__ returns a 3-tuple (typeshed allows str for the protocol)
        constructor, args, state = cast("tuple[Any, Any, Any]", super().__reduce__())
        return constructor, args, (state, tuple(getattr(self, m) for m in _META))

    def __setstate__(self, state: Any) -> None:
        base_state, meta = state
        super().__setstate__(base_state)
        # straight into __dict__: recarray's setattr would write a column of that name
        _obj_getattr(self, "__dict__").update(zip(_META, meta))

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], dtype: Any = None, **meta: Any) -> Table:
        """Build a table from a dict of columns (scalars are broadcast)."""
        return cls(data, dtype=dtype, **meta)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]], dtype: Any = None,
                  colnames: Sequence[str] | None = None, **meta: Any) -> Table:
        """Build a table from an iterable of row tuples.

        Give either a structured ``dtype`` or ``colnames`` (then the column types are
        inferred from the values).
        """
        rows = [tuple(r) for r in rows]
        if dtype is None:
            if colnames is None:
                raise TableError("from_rows needs a structured dtype or colnames")
            columns: list[Any] = list(zip(*rows)) if rows else [[] for _ in colnames]
            dtype = _infer_dtype(columns, colnames)
        arr = np.array(rows, dtype=dtype) if rows else np.empty(0, dtype=dtype)
        return cls(arr, **meta)

    @classmethod
    def from_columns(cls, columns: Sequence[Any], dtype: Any = None,
                     colnames: Sequence[str] | None = None, **meta: Any) -> Table:
        """Build a table from a list of column arrays, in the order of ``dtype``'s fields.

        Give either a structured ``dtype`` or ``colnames`` (types inferred).
        """
        if dtype is None:
            if colnames is None:
                raise TableError("from_columns needs a structured dtype or colnames")
            dtype = _infer_dtype(columns, colnames)
        dtype = np.dtype(dtype)
        if len(columns) != len(dtype.names):
            raise TableError(
                f"{len(columns)} columns given for a dtype with {len(dtype.names)} fields"
            )
        return cls(dict(zip(dtype.names, columns)), dtype=dtype, **meta)

    @classmethod
    def from_template(cls, data: Any, template: str | Mapping[str, Any]) -> Table:
        """Build a table with the dtype, h5loc and split mode of a named template.

        ``template`` is a name from :data:`TEMPLATES` (see :attr:`templates_avail`) or a
        dict with the keys ``dtype``, ``h5loc``, ``split_h5``, ``h5singleton``.
        """
        tmpl: Mapping[str, Any]
        if isinstance(template, str):
            try:
                tmpl = TEMPLATES[template]
            except KeyError:
                raise TableError(
                    f"no template '{template}'; available: {', '.join(sorted(TEMPLATES))}"
                ) from None
            name = template
        else:
            tmpl = template
            name = tmpl.get("name", DEFAULT_NAME)
        return cls(
            data,
            dtype=tmpl["dtype"],
            h5loc=tmpl["h5loc"],
            split_h5=tmpl["split_h5"],
            h5singleton=tmpl["h5singleton"],
            name=name,
        )

    @property
    def templates_avail(self) -> list[str]:
        """The names of the dtype templates."""
        return sorted(TEMPLATES)

    @classmethod
    def from_dataframe(cls, df: Any, **meta: Any) -> Table:
        """Build a table from a pandas DataFrame (the index is dropped)."""
        return cls(df.to_records(index=False), **meta)

    @classmethod
    def merge(cls, tables: Sequence[np.ndarray], fillna: bool = False, **meta: Any) -> Table:
        """Concatenate tables with the same columns into one (a single allocation).

        Columns may come in another order in later tables; a column's dtype is the common
        type of its dtypes in all tables (an int column merged with a float one becomes
        float). With ``fillna=True``, float columns missing from some tables are filled with
        NaN. Metadata come from the first table unless given.
        """
        tables = list(tables)
        if not tables:
            raise TableError("nothing to merge")
        first = tables[0]
        fields: dict[str, Any] = {}
        for t in tables if fillna else tables[:1]:
            for n in t.dtype.names or ():
                fields.setdefault(n, t.dtype[n])
        for t in tables[1:]:
            for n in set(t.dtype.names or ()) & set(fields):
                if t.dtype[n] != fields[n] and not t.dtype[n].shape and not fields[n].shape:
                    fields[n] = np.result_type(fields[n], t.dtype[n])
        dtype = np.dtype(list(fields.items()))
        names = set(dtype.names or ())
        total = sum(len(t) for t in tables)
        out = np.empty(total, dtype=dtype)
        pos = 0
        for t in tables:
            arr = np.asarray(t)
            cols = set(arr.dtype.names or ())
            if cols != names:
                missing = names - cols
                if not fillna or cols - names:
                    raise TableError(
                        f"cannot merge tables with columns {sorted(names)} and {sorted(cols)}"
                        + ("" if fillna else "; use fillna=True to fill missing columns")
                    )
                bad = [c for c in missing if dtype[c].kind not in "fc"]
                if bad:
                    raise TableError(f"cannot fill non-float columns {bad} with NaN")
            n_rows = len(arr)
            chunk = out[pos:pos + n_rows]
            if arr.dtype == dtype:
                chunk[...] = arr
            else:
                for c in dtype.names or ():
                    chunk[c] = arr[c] if c in cols else np.nan
            pos += n_rows
        for key in _META:
            meta.setdefault(key, getattr(first, key, _DEFAULT_META[key]))
        return cls(out, **meta)

    concatenate = merge

    def __add__(self, other: Any) -> Table:
        """Concatenate two tables with the same columns (``tab1 + tab2``)."""
        if not isinstance(other, np.ndarray) or other.dtype.names is None:
            return NotImplemented
        return Table.merge([self, other])

    # -- columns -------------------------------------------------------------------------
    def __getattr__(self, attr: str) -> Any:
        # Only reached when normal lookup and recarray's field lookup both failed.
        if attr.startswith("__"):
            raise AttributeError(attr)
        names = np.ndarray.__getattribute__(self, "dtype").names or ()
        if attr in ("pos", "dir"):  # the property failed: say which columns are missing
            missing = [f"{attr}_{c}" for c in "xyz" if f"{attr}_{c}" not in names]
            raise AttributeError(
                f"Table has no columns {missing} for '{attr}'; columns: {', '.join(names)}"
            )
        raise AttributeError(
            f"Table has no column or attribute '{attr}'; columns: {', '.join(names)}"
        )

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            fields = _nd_getattr(self, "dtype").fields or {}
            if item not in fields:
                raise KeyError(f"Table has no column '{item}'; columns: {', '.join(fields)}")
            col = _nd_getitem(_nd_view(self, _ND), item)
            if col.dtype.names is None:
                return col
            return _nd_getitem(self, item)
        if isinstance(item, list) and item and all(isinstance(i, str) for i in item):
            unknown = [i for i in item if i not in (self.dtype.names or ())]
            if unknown:
                raise KeyError(f"Table has no columns {unknown}; "
                               f"columns: {', '.join(self.dtype.names or ())}")
        return _nd_getitem(self, item)

    def __contains__(self, column: Any) -> bool:
        """``'time' in tab``: whether the table has that column."""
        return column in (self.dtype.names or ())

    def _vector(self, prefix: str) -> np.ndarray:
        names = self.dtype.names or ()
        if prefix in names:
            return np.asarray(self[prefix])
        cols = [f"{prefix}_{c}" for c in "xyz"]
        missing = [c for c in cols if c not in names]
        if missing:
            raise AttributeError(
                f"Table has no columns {missing} for '{prefix}'; columns: {', '.join(names)}"
            )
        all_fields = self.dtype.fields
        assert all_fields is not None  # a structured table
        fields = [all_fields[c] for c in cols]
        dt = fields[0][0]
        offsets = [f[1] for f in fields]
        step = offsets[1] - offsets[0]
        if (all(f[0] == dt for f in fields) and step == dt.itemsize
                and offsets[2] - offsets[1] == step and self.flags.writeable):
            # Adjacent same-typed fields: a writable (n, 3) view into the table.
            return np.ndarray(
                shape=(len(self), 3), dtype=dt, buffer=self.view(np.ndarray),
                offset=offsets[0], strides=(self.strides[0], step),
            )
        return np.column_stack([np.asarray(self[c]) for c in cols])

    def _set_vector(self, prefix: str, values: Any) -> None:
        values = np.asarray(values)
        if values.shape != (len(self), 3):
            raise TableError(f"'{prefix}' needs shape ({len(self)}, 3), got {values.shape}")
        for i, c in enumerate("xyz"):
            self[f"{prefix}_{c}"] = values[:, i]

    @property
    def pos(self) -> np.ndarray:
        """An (n, 3) array of ``pos_x, pos_y, pos_z`` (a view when the fields are adjacent)."""
        return self._vector("pos")

    @pos.setter
    def pos(self, values: Any) -> None:
        self._set_vector("pos", values)

    @property
    def dir(self) -> np.ndarray:
        """An (n, 3) array of ``dir_x, dir_y, dir_z`` (a view when the fields are adjacent)."""
        return self._vector("dir")

    @dir.setter
    def dir(self, values: Any) -> None:
        self._set_vector("dir", values)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names in order."""
        return tuple(self.dtype.names or ())

    @property
    def triggered_rows(self) -> Table:
        """The rows whose ``triggered`` column is non-zero."""
        if "triggered" not in self:
            raise TableError(f"Table has no 'triggered' column; columns: {', '.join(self.columns)}")
        return self[np.asarray(self["triggered"]).astype(bool)]

    def append_columns(self, colnames: str | Sequence[str], values: Any) -> Table:
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
        n = len(self)
        arrays = []
        for c, v in zip(colnames, values):
            a = np.asarray(v)
            if a.ndim == 0 or (a.ndim == 1 and a.shape[0] == 1 and n != 1):
                a = np.full(n, a.reshape(()))
            if a.shape[0] != n:
                raise TableError(f"column '{c}' has {a.shape[0]} rows, the table {n}")
            arrays.append(a)
        dtype = np.dtype(np.asarray(self).dtype.descr
                         + [(c, a.dtype, a.shape[1:]) for c, a in zip(colnames, arrays)])
        out = np.empty(n, dtype=dtype)
        for name in self.columns:
            out[name] = self[name]
        for c, a in zip(colnames, arrays):
            out[c] = a
        return self._with_meta(out)

    def drop_columns(self, colnames: str | Sequence[str]) -> Table:
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

    def sorted(self, by: str | Sequence[str], kind: SortKind = "stable") -> Table:
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

    def _with_meta(self, arr: np.ndarray) -> Table:
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


class _Unfinalized(Table):
    """Table views made without ``__array_finalize__`` (numpy skips ndarray's own); only
    :meth:`Table._split` makes them, and switches each to its real class at once."""

    __array_finalize__ = np.ndarray.__array_finalize__  # type: ignore[assignment]


# assigns __class__ without recarray's Python __setattr__ (object layouts are the same)
_set_class = object.__dict__["__class__"].__set__

# Names looked up the ordinary way before any column (np.recarray's precedence: class
# attributes and methods, then the metadata; a column cannot shadow them).
_PLAIN_ATTRS = frozenset(dir(Table)) | frozenset(_META) | {"__dict__", "__class__"}

# Show the public path in reprs, as KM3Pipe's "km3pipe.dataclasses.Table" did.
Table.__module__ = "km3flow.dataclasses"
