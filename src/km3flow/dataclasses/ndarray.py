"""NDArray: a numpy array that carries its HDF5 location and a title."""

from __future__ import annotations

from typing import Any, cast

import numpy as np


class NDArray(np.ndarray):
    """An ``np.ndarray`` with ``h5loc`` and ``title`` (alias ``name``) kept through numpy ops.

    Reductions to scalars give plain numbers; slices, views and element-wise results keep
    the metadata. Stored by the HDF5 sink as one array per location, concatenated along the
    first axis, with an index table so each cycle's array comes back whole.
    """

    def __new__(
        cls,
        array: Any,
        dtype: Any = None,
        order: Any = None,
        h5loc: str = "/misc",
        title: str = "Unnamed NDArray",
        name: str | None = None,
        group_id: int | None = None,
    ) -> NDArray:
        obj = np.asarray(array, dtype=dtype, order=order).view(cls)
        obj.h5loc = h5loc
        obj.title = name if name is not None else title
        obj.group_id = group_id
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.h5loc = getattr(obj, "h5loc", "/misc")
        self.title = getattr(obj, "title", "Unnamed NDArray")
        self.group_id = getattr(obj, "group_id", None)

    def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        # Reductions to a single value give a plain numpy scalar, not a 0-d NDArray.
        if return_scalar or (isinstance(arr, np.ndarray) and arr.ndim == 0):
            return arr[()]
        return super().__array_wrap__(arr, context, return_scalar)

    @property
    def name(self) -> str:
        """The array's title (KM3Pipe's name for it)."""
        return self.title

    @name.setter
    def name(self, value: str) -> None:
        self.title = value

    def __reduce__(self) -> Any:
        # Keep the metadata through pickling (worker processes, DataLoader workers).
        # ndarray.__reduce__ returns a 3-tuple (typeshed allows str for the general protocol).
        constructor, args, state = cast("tuple[Any, Any, Any]", super().__reduce__())
        return constructor, args, (state, (self.h5loc, self.title, self.group_id))

    def __setstate__(self, state: Any) -> None:
        base_state, (self.h5loc, self.title, self.group_id) = state
        super().__setstate__(base_state)
