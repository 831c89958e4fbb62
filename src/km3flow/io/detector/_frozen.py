"""Read-only Tables for a Detector's DOMs and PMTs, with a clear error when written.

:func:`km3flow.calib.calibrate` and the detector's lookups cache values taken from
``det.pmts`` and ``det.doms``. Checking the arrays for changes on every call would cost more
than calibrating a typical event (the whole table is read), so instead the tables are
read-only: a write raises :class:`DetectorReadOnlyError` (never a silently ignored change),
and :meth:`Detector.edit` is the one way to change values, after which the caches are
rebuilt.

The guard covers the usual ways of writing: ``det.pmts["t0"][k] = v``,
``det.pmts.t0 += 1``, ``det.pmts[k] = row``, ``det.pmts.pos = xyz`` and in-place ufuncs.
Anything else (``np.asarray(det.pmts)[...] = v``) still meets numpy's own read-only error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...dataclasses import Table
from ...exceptions import Km3flowError

__all__ = ["DetectorReadOnlyError", "freeze"]

_HINT = ("the detector's tables are read-only because calibrate() and the PMT lookups cache "
         "values from them; change them inside 'with det.edit(): ...' (the caches are "
         "rebuilt when it ends)")


class DetectorReadOnlyError(Km3flowError, ValueError):
    """A write into a :class:`~km3flow.io.detector.Detector`'s ``pmts`` or ``doms`` outside
    :meth:`~km3flow.io.detector.Detector.edit`."""

    __module__ = "km3flow.io.detector"  # where users import it from


def _refuse(name: str) -> DetectorReadOnlyError:
    return DetectorReadOnlyError(f"cannot write into Detector.{name}: {_HINT}")


class _FrozenColumn(np.ndarray):
    """A read-only view of a detector column; writes raise :class:`DetectorReadOnlyError`."""

    _table_name = "pmts"

    def __array_finalize__(self, obj: Any) -> None:
        self._table_name = getattr(obj, "_table_name", "pmts")

    def __setitem__(self, key: Any, value: Any) -> None:
        if not self.flags.writeable:
            raise _refuse(self._table_name)
        np.ndarray.__setitem__(self, key, value)

    def __getitem__(self, key: Any) -> Any:
        out = np.ndarray.__getitem__(self, key)
        if isinstance(out, _FrozenColumn) and out.flags.writeable:
            return out.view(np.ndarray)  # a copy (fancy index): the user's own array
        return out

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def copy(self, order: Any = "C") -> np.ndarray:
        return self.view(np.ndarray).copy(order)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        outs = kwargs.get("out") or ()
        if any(isinstance(o, _FrozenColumn) and not o.flags.writeable for o in outs):
            raise _refuse(next(o._table_name for o in outs if isinstance(o, _FrozenColumn)))
        # compute on plain arrays: results are ordinary (writable) ndarrays
        inputs = tuple(i.view(np.ndarray) if isinstance(i, _FrozenColumn) else i
                       for i in inputs)
        if outs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _FrozenColumn) else o
                                  for o in outs)
        return getattr(ufunc, method)(*inputs, **kwargs)


class _FrozenTable(Table):
    """A detector's DOM or PMT table: read-only, with a clear error when written."""

    def __getattribute__(self, attr: str) -> Any:
        res = super().__getattribute__(attr)
        if type(res) is np.ndarray and not res.flags.writeable and res.base is not None:
            return _column(res, self)
        return res

    def __getitem__(self, item: Any) -> Any:
        res = super().__getitem__(item)
        if isinstance(res, np.ndarray) and not res.flags.writeable:
            if type(res) is np.ndarray:
                return _column(res, self)
            return res
        if isinstance(res, _FrozenTable):  # a copy (fancy index, mask): an ordinary Table
            return res.view(Table)
        return res

    def __setitem__(self, key: Any, value: Any) -> None:
        if not self.flags.writeable:
            raise _refuse(self._frozen_name())
        super().__setitem__(key, value)

    def __setattr__(self, attr: str, value: Any) -> None:
        names = np.ndarray.__getattribute__(self, "dtype").names or ()
        if attr in names and not self.flags.writeable:
            raise _refuse(self._frozen_name())
        super().__setattr__(attr, value)

    def _vector(self, prefix: str) -> np.ndarray:
        names = self.dtype.names or ()
        cols = [f"{prefix}_{c}" for c in "xyz"]
        if self.flags.writeable or prefix in names or any(c not in names for c in cols):
            return super()._vector(prefix)
        # a read-only (n, 3) view, so that a write fails instead of going to a copy
        all_fields = self.dtype.fields
        assert all_fields is not None  # a structured array: the names were checked above
        fields = [all_fields[c] for c in cols]
        dtype, offsets = fields[0][0], [f[1] for f in fields]
        step = offsets[1] - offsets[0]
        if (all(f[0] == dtype for f in fields) and step == dtype.itemsize
                and offsets[2] - offsets[1] == step):
            first = np.ndarray.__getitem__(self.view(np.ndarray), cols[0])
            view = np.lib.stride_tricks.as_strided(
                first, shape=(len(self), 3), strides=(self.strides[0], step), writeable=False)
        else:
            view = np.column_stack([np.asarray(self[c]) for c in cols])
            view.flags.writeable = False
        return _column(view, self)

    def _frozen_name(self) -> str:
        return "doms" if "n_pmts" in (self.dtype.names or ()) else "pmts"

    def __reduce__(self) -> Any:
        constructor, args, state = super().__reduce__()
        return constructor, args, (state, self.flags.writeable)

    def __deepcopy__(self, memo: Any) -> Any:
        out = super().__deepcopy__(memo)
        out.flags.writeable = self.flags.writeable  # ndarray's deep copy is writable
        return out

    def __setstate__(self, state: Any) -> None:
        # numpy's pickles do not keep the read-only flag: restore it
        base_state, writeable = state
        super().__setstate__(base_state)
        self.flags.writeable = writeable


def _column(arr: np.ndarray, table: _FrozenTable) -> _FrozenColumn:
    col = arr.view(_FrozenColumn)
    col._table_name = table._frozen_name()
    return col


def freeze(table: Table) -> Table:
    """A read-only copy of ``table`` whose writes raise :class:`DetectorReadOnlyError`."""
    arr = np.array(table)  # a copy: views of the working table cannot reach the frozen one
    out = Table._wrap(arr, h5loc=table.h5loc, name=table.name).view(_FrozenTable)
    out.flags.writeable = False
    return out
