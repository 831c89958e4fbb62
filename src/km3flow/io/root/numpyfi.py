"""The aanet idea, generalised: NumPy structured dtypes from ROOT streamer info, and record
arrays of branches.

aanet's ``get_dtype(Hit)`` built a dtype from the ROOT dictionary and ``numpyfi(evt.hits)``
laid a ``np.recarray`` over the C++ memory of a ``std::vector<Hit>``.  Here the same is done
from what any ROOT file carries, its streamer info, read with uproot:

* :func:`get_dtype` derives the structured dtype of a class (base classes inlined, embedded
  objects such as ``Vec pos`` as nested sub-records, so ``hits.pos.x`` works); members of
  variable length (``vector``, ``string``) cannot live in a fixed-size record and are left out
  (:func:`variable_members` lists them).
* :func:`numpyfi` reads a branch into one flat record array plus per-entry offsets
  (:class:`JaggedRecords`); ``records[offsets[i]:offsets[i+1]]`` is entry ``i``, and a
  field (``hits.time``, ``hits.pos.x``) keeps the offsets: ``hits.pos.x[i]`` is entry ``i``.

On copies: in the offline (aanet) files the collections are *split*: every member is its own
branch, stored column by column.  A record array interleaves the members, so assembling it
costs one vectorised copy per member (no Python per element).  After that every access
(``hits.time``, ``hits.pos.x``, ``records[a:b]``) is a view.  Unsplit branches of packed
records (the Jpp DAQ hits in online files) are different: there each entry is a zero-copy
view of the decompressed basket bytes (:mod:`km3flow.io.root.baskets`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ...core.module import resolve_index
from ...exceptions import FormatError, Km3flowError
from ._file import get_tree, open_root_file, wrap_read_error
from .baskets import BasketRecords, read_baskets

# the byte orders numpy's dtype.newbyteorder takes
ByteOrder = Literal["<", ">", "=", "|", "little", "big", "native"]

# TStreamerElement type codes of basic types → on-disk (big-endian) NumPy type.
_BASIC = {
    1: "i1", 2: ">i2", 3: ">i4", 4: ">i8", 5: ">f4", 6: ">i4", 8: ">f8", 9: ">f8",
    11: "u1", 12: ">u2", 13: ">u4", 14: ">u8", 15: ">u4", 16: ">i8", 17: ">u8", 18: "?",
}
_OFFSET_L = 20  # fixed-size C array of a basic type: code + 20
_OBJECT_CODES = {61, 62}  # kObject, kAny: an embedded object streamed member by member

#: Alternative field names (NumPy dtype titles) for aanet's terse member names, so that
#: ``hits.time`` works next to ``hits.t`` (as in the talk).
ALIASES = {"t": "time", "E": "energy", "len": "length", "lik": "likelihood"}


def _streamers(source: Any) -> tuple[dict[str, Any], str]:
    """Return (uproot streamer dict, file name) for a path, uproot file, directory or TTree."""
    if isinstance(source, (str, os.PathLike)):
        rfile = open_root_file(source)
        return rfile.file.streamers, os.fspath(source)
    rfile = getattr(source, "file", source)
    try:
        return rfile.streamers, str(getattr(rfile, "file_path", "<ROOT file>"))
    except AttributeError as err:
        raise TypeError(
            f"expected a file name, an uproot file or TTree, got {type(source).__name__}"
        ) from err


def _streamer_info(streamers: dict[str, Any], classname: str, version: int | None,
                   path: str) -> Any:
    versions = streamers.get(classname)
    if not versions:
        known = ", ".join(sorted(streamers)) or "none"
        raise FormatError(
            f"no streamer info for class '{classname}'; classes in the file: {known}", path=path
        )
    if version is None:
        return versions[max(versions)]
    if version not in versions:
        raise FormatError(
            f"class '{classname}' has no streamer version {version}; versions in the file: "
            f"{sorted(versions)}",
            path=path,
        )
    return versions[version]


def _members(streamers: dict[str, Any], classname: str, version: int | None, path: str,
             byteorder: ByteOrder, aliases: bool, skipped: list[str], prefix: str
             ) -> list[tuple]:
    """Fields of ``classname`` as (name, format, title) with base classes inlined."""
    info = _streamer_info(streamers, classname, version, path)
    fields: list[tuple] = []
    for element in info.elements:
        kind = type(element).__name__
        name = element.member("fName")
        code = element.member("fType")
        if kind.endswith("TStreamerBase"):
            fields += _members(streamers, name, None, path, byteorder, aliases, skipped, prefix)
            continue
        array_length = element.member("fArrayLength") if element.has_member(
            "fArrayLength") else 0
        basic = _BASIC.get(code - _OFFSET_L if _OFFSET_L < code < 40 else code)
        if kind.endswith("TStreamerBasicType") and basic is not None:
            fmt: Any = np.dtype(basic).newbyteorder(byteorder) if byteorder != ">" else basic
            if array_length:
                fmt = (np.dtype(fmt), (array_length,))
            title = ALIASES.get(name) if aliases else None
            fields.append((name, fmt, title))
        elif code in _OBJECT_CODES and kind.endswith(("TStreamerObjectAny", "TStreamerObject")):
            sub = _members(streamers, element.member("fTypeName"), None, path, byteorder,
                           aliases, skipped, f"{prefix}{name}.")
            if sub:
                fields.append((name, _make_dtype(sub, align=False), None))
            else:
                skipped.append(prefix + name)
        else:  # vector<…>, string, TString, pointers: variable length
            skipped.append(prefix + name)
    return fields


def _make_dtype(fields: list[tuple], align: bool) -> np.dtype:
    spec: Any = {  # (numpy's stubs want a TypedDict)
        "names": [f[0] for f in fields],
        "formats": [f[1] for f in fields],
    }
    if any(f[2] for f in fields):
        spec["titles"] = [f[2] for f in fields]
    return np.dtype(spec, align=align)


def get_dtype(source: Any, classname: str, *, version: int | None = None,
              byteorder: ByteOrder = "=", aliases: bool = False, align: bool = False
              ) -> np.dtype:
    """Derive the NumPy structured dtype of a ROOT class from a file's streamer info.

    Parameters
    ----------
    source
        A file name, or an open uproot file, directory or TTree.
    classname
        The class, e.g. ``"Hit"``, ``"Trk"``, ``"Evt"``.
    version
        The class version; the highest version in the file by default.
    byteorder
        ``"="`` (native, default) for arrays in memory, ``">"`` for the on-disk layout.
    aliases
        Add the titles of :data:`ALIASES` (``time`` for ``t``, ``energy`` for ``E`` …).
    align
        Pad the fields as a C compiler would (like the offsets aanet showed).

    Returns
    -------
    numpy.dtype
        Base-class members come first and inline (``fUniqueID``, ``fBits`` from TObject),
        embedded objects become sub-records (``pos`` → ``x, y, z``); members of variable
        length are not part of the dtype (see :func:`variable_members`).

    Raises
    ------
    FormatError
        When the file has no streamer info for the class (or the version).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> get_dtype(data_path("offline/km3net_offline.root"), "Hit").names[:6]
    ('id', 'dom_id', 'channel_id', 'tdc', 'tot', 'trig')
    """
    streamers, path = _streamers(source)
    fields = _members(streamers, classname, version, path, byteorder, aliases, [], "")
    return _make_dtype(fields, align=align)


def variable_members(source: Any, classname: str, *, version: int | None = None) -> list[str]:
    """Members of ``classname`` left out of :func:`get_dtype` because their size varies."""
    streamers, path = _streamers(source)
    skipped: list[str] = []
    _members(streamers, classname, version, path, "=", False, skipped, "")
    return skipped


@dataclass
class JaggedRecords:
    """A flat record array and the offsets of each entry's records in it.

    ``jr[i]`` is entry ``i`` as a ``np.recarray`` view (``jr[i].pos.x``); ``jr.records`` are
    all records of all entries, ``jr.counts`` the number per entry.  A field, by attribute
    or by name, is again a :class:`JaggedRecords` with the same offsets, viewing the field
    of the flat records: ``hits.pos.x[i]`` are the x of entry ``i``'s hits,
    ``np.asarray(hits.time)`` the times of all hits (no copy).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> hits = numpyfi(data_path("offline/km3net_offline.root"), "Evt/hits")
    >>> hits.time
    JaggedRecords(10 entries, 1434 records, dtype=float64)
    >>> float(hits.time[0][0]), len(hits.pos.x[2]), np.asarray(hits["dom_id"]).shape
    (70104010.0, 318, (1434,))
    """

    records: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int | str) -> Any:
        if isinstance(index, str):
            return self._field(index, KeyError)
        i = resolve_index(index, len(self), self.__class__.__name__)
        return self.records[self.offsets[i]:self.offsets[i + 1]]

    def __getattr__(self, name: str) -> JaggedRecords:
        # only called for names that are not attributes: the fields of the records
        if name.startswith("_") or "records" not in self.__dict__:
            raise AttributeError(name)
        return self._field(name, AttributeError)

    def _field(self, name: str, error: type[Exception]) -> JaggedRecords:
        fields = self.records.dtype.fields
        if fields is None or name not in fields:
            names = ", ".join(self.records.dtype.names or ()) or "none (not records)"
            raise error(f"no field '{name}' in these records; fields: {names}")
        column = self.records[name]
        if column.dtype.names is not None:
            column = column.view(np.recarray)
        return JaggedRecords(column, self.offsets)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # the flat values of all entries: np.asarray(hits.time), np.mean(hits.pos.z)
        values = self.records if dtype is None else self.records.astype(dtype, copy=False)
        return np.array(values, copy=True) if copy else np.asarray(values)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.records[self.offsets[i]:self.offsets[i + 1]]

    @property
    def counts(self) -> np.ndarray:
        """The number of records of each entry."""
        return np.diff(self.offsets)

    def __repr__(self) -> str:
        return (f"JaggedRecords({len(self)} entries, {len(self.records)} records, "
                f"dtype={self.records.dtype})")


_VECTOR = re.compile(r"^(?:std::)?vector<\s*([\w:]+)\s*>$")


def _leaf_paths(dtype: np.dtype, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name in dtype.names or ():
        sub = dtype[name]
        if sub.names is not None:
            paths += _leaf_paths(sub, prefix + (name,))
        else:
            paths.append(prefix + (name,))
    return paths


def _find_leaf(leaf_names: dict[str, str], branch: str, path: tuple[str, ...],
               is_vector: bool) -> str | None:
    """Full path of the leaf holding member ``path`` below ``branch``, or None."""
    joined = ".".join(path)
    own = branch.rsplit("/", 1)[-1]
    wanted = f"{own}.{joined}" if is_vector else joined
    return leaf_names.get(wanted)


def _branch_class(branch: Any) -> tuple[bool, str]:
    """(is a collection, class of its objects) from the TBranchElement's own members.

    ``fType`` 3/4 are split TClonesArray/STL collections whose element class is
    ``fClonesName``; asking uproot for ``typename`` instead would make it work out the
    interpretation of every sub-branch first (a tenth of a second on the aanet files).
    """
    if branch.has_member("fType") and branch.has_member("fClonesName"):
        kind, clones = branch.member("fType"), branch.member("fClonesName")
        if kind in (3, 4) and clones:
            return True, str(clones)
        if kind == 0 and branch.member("fClassName"):
            return False, str(branch.member("fClassName"))
    match = _VECTOR.match(branch.typename)
    return (True, match.group(1)) if match else (False, branch.typename)


def numpyfi(source: Any, branch: str = "Evt/hits", *, tree: str = "E",
            entry_start: int | None = None, entry_stop: int | None = None,
            classname: str | None = None, aliases: bool = True, dtype: Any = None,
            header_bytes: int = 10) -> JaggedRecords | BasketRecords:
    """Give the objects of a branch as NumPy record arrays (nested ``pos``/``dir`` sub-records).

    Split branches (aanet's ``Evt/hits``, ``Evt/trks`` …) are assembled into one record
    array with the dtype from :func:`get_dtype`; unsplit branches of packed records are
    returned as zero-copy views of the decompressed basket bytes.

    Parameters
    ----------
    source
        A file name, an uproot file, or an uproot TTree.
    branch
        The branch holding the objects: a collection (``"Evt/hits"``, ``"Evt/trks"``,
        ``"Evt/mc_hits"``) or a single object per entry (``"Evt"``).
    tree
        The TTree name when ``source`` is a file.
    entry_start, entry_stop
        The range of entries (events) to read; all by default.
    classname
        The class of the objects; taken from the branch's type name by default.
    aliases
        Also name fields by :data:`ALIASES` (``hits.time`` for ``hits.t``).
    dtype
        For unsplit branches: the on-disk record layout, needed where the class has a
        custom streamer (its streamer info lists no members); from :func:`get_dtype` with
        ``byteorder=">"`` otherwise.
    header_bytes
        For unsplit branches: the bytes before the records of each entry (10 for a
        ``std::vector`` of objects: byte count, version, size).

    Returns
    -------
    JaggedRecords or BasketRecords
        For split branches (aanet): ``records`` (one row per object, dtype from
        :func:`get_dtype`, native byte order; built with one copy per member) and
        ``offsets``.  For unsplit branches: :class:`BasketRecords`, whose entries are
        zero-copy views of the decompressed basket bytes (on-disk byte order).

    Raises
    ------
    FormatError
        When the branch is missing, not split into members, or its data cannot be read.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> hits = numpyfi(data_path("offline/km3net_offline.root"), "Evt/hits")
    >>> first = hits[0]
    >>> len(first), float(first.time[0]), float(first.pos.x[0])
    (176, 70104010.0, 0.0)
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        ttree = get_tree(open_root_file(path), tree, path, "the tree holding the branch")
    elif hasattr(source, "num_entries"):
        ttree, path = source, str(source.file.file_path)
    else:
        path = str(getattr(getattr(source, "file", source), "file_path", "<ROOT file>"))
        ttree = get_tree(source, tree, path, "the tree holding the branch")
    try:
        top = ttree[branch]
    except Exception as err:
        raise FormatError(f"expected a branch '{branch}' in TTree '{ttree.name}'",
                          path=path) from err
    if not top.branches:  # unsplit: streamed objects, read as views of the basket bytes
        return _numpyfi_unsplit(ttree, top, path, branch, dtype, classname, header_bytes,
                                entry_start, entry_stop)
    is_vector, found = _branch_class(top)
    classname = classname or found
    dtype = get_dtype(ttree, classname, aliases=aliases)
    # leaf name (e.g. "hits.pos.x", "t.fSec") → full path below the tree
    leaf_names = {
        sub.rsplit("/", 1)[-1]: f"{branch}/{sub}"
        for sub in top.keys(recursive=True, full_paths=True)
    }
    leaves = {p: _find_leaf(leaf_names, branch, p, is_vector) for p in _leaf_paths(dtype)}
    missing = [".".join(p) for p, leaf in leaves.items() if leaf is None]
    if missing:
        raise FormatError(
            f"branch '{branch}' (of {classname}) is not split into member branches as "
            f"expected; no leaves for {', '.join(missing)}",
            path=path,
        )
    leaf_of = {p: leaf for p, leaf in leaves.items() if leaf is not None}  # all of them
    try:
        arrays = ttree.arrays(sorted(set(leaf_of.values())),
                              entry_start=entry_start, entry_stop=entry_stop,
                              how=dict, library="ak")
    except Km3flowError:
        raise
    except Exception as err:
        raise wrap_read_error(err, path, f"branch '{branch}'") from err
    offsets = None
    records = None
    for leaf_path, leaf in leaf_of.items():
        layout = arrays[leaf].layout
        if is_vector:
            content, leaf_offsets = _flat(layout, path, leaf)
            if offsets is None:
                offsets = leaf_offsets
                records = np.empty(len(content), dtype=dtype)
            elif len(leaf_offsets) != len(offsets) or not np.array_equal(leaf_offsets, offsets):
                raise FormatError(f"leaf '{leaf}' has other counts per entry than "
                                  f"the other members of '{branch}'", path=path)
        else:
            content = np.asarray(layout.data)
            if records is None:
                records = np.empty(len(content), dtype=dtype)
                offsets = np.arange(len(content) + 1, dtype=np.int64)
        assert records is not None  # made for the first leaf
        target = records
        for part in leaf_path[:-1]:
            target = target[part]
        target[leaf_path[-1]] = content
    if records is None:  # a class without fixed-size members
        n = len(next(iter(arrays.values()))) if arrays else 0
        records, offsets = np.empty(0, dtype=dtype), np.zeros(n + 1, dtype=np.int64)
    assert offsets is not None  # set with records
    return JaggedRecords(records.view(np.recarray), offsets)


def _numpyfi_unsplit(ttree: Any, top: Any, path: str, branch: str, dtype: Any,
                     classname: str | None, header_bytes: int, entry_start: int | None,
                     entry_stop: int | None) -> BasketRecords:
    if dtype is None:
        match = _VECTOR.match(top.typename)
        classname = classname or (match.group(1) if match else top.typename)
        try:
            dtype = get_dtype(ttree, classname, byteorder=">")
        except FormatError as err:
            raise FormatError(f"{err.reason.split(';')[0]}; pass dtype= with the on-disk layout "
                              f"of the records of branch '{branch}'", path=path) from err
        if not dtype.names:
            raise FormatError(
                f"class '{classname}' of branch '{branch}' lists no members in the streamer "
                f"info (it has a custom streamer); pass dtype= with its on-disk layout",
                path=path,
            )
    n = int(ttree.num_entries)
    start, stop, _ = slice(entry_start, entry_stop).indices(n)
    baskets = read_baskets(top, path, branch, start, stop)
    return BasketRecords(baskets, np.dtype(dtype), header_bytes, path, branch, start,
                         max(start, stop))


def _flat(layout: Any, path: str, leaf: str) -> tuple[np.ndarray, np.ndarray]:
    """(content, offsets starting at 0) of a one-level jagged awkward layout."""
    try:
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        content = np.asarray(layout.content.data)
    except AttributeError as err:
        raise FormatError(f"leaf '{leaf}' is not a jagged array of numbers "
                          f"({type(layout).__name__})", path=path) from err
    start = offsets[0]
    return content[start:offsets[-1]], offsets - start
