"""Opening ROOT files with uproot, turning every way a file can be wrong into a FormatError.

The one place where uproot's errors become :class:`~km3flow.exceptions.FormatError`: the
offline and online readers, `km3flow info` and format detection all open and read through it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..._optional import import_optional
from ...exceptions import FormatError, Km3flowError

_ROOT_MAGIC = b"root"
_HEADER_SIZE = 20  # magic, fVersion, fBEGIN, fEND (4 or 8 bytes)


def uproot_module() -> Any:
    """Import uproot lazily (it is the ``root`` extra of km3flow)."""
    return import_optional("uproot", extra="root")


def open_root_file(path: str | os.PathLike) -> Any:
    """Open ``path`` with uproot after checking that it is a complete ROOT file.

    Raises
    ------
    FormatError
        When the file is missing, does not start with the ROOT magic bytes, is shorter
        than its header says (truncated), or uproot cannot read its directory.
    """
    path = os.fspath(path)
    uproot = uproot_module()
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(_HEADER_SIZE)
    except OSError as err:
        raise FormatError(f"cannot read the file: {err.strerror or err}", path=path) from err
    if head[:4] != _ROOT_MAGIC:
        raise FormatError(
            f"expected a ROOT file (magic bytes b'root'), found {head[:4]!r}", path=path, offset=0
        )
    end = _end_of_file(head, path)
    if end > size:
        raise FormatError(
            f"truncated ROOT file: the header says it ends at byte {end}, "
            f"the file has {size} bytes",
            path=path,
            offset=size,
        )
    try:
        # no array cache: a pump reads every basket once, and the default cache (100 MB per
        # file, freed only when the cyclic garbage collector finds the file) grew a run over
        # many files by ~30 MB per file
        return uproot.open(path, array_cache=None)
    except Exception as err:  # uproot raises many types (ValueError, OSError, Deserialization…)
        raise FormatError(f"not a readable ROOT file: {_describe(err)}", path=path) from err


def _end_of_file(head: bytes, path: str) -> int:
    """fEND of the ROOT file header: 4-byte pointers below version 1000000, else 8-byte."""
    if len(head) < 16:
        raise FormatError(f"truncated ROOT file header: expected at least 16 bytes, "
                          f"got {len(head)}", path=path, offset=len(head))
    version = int.from_bytes(head[4:8], "big")
    if version < 1000000:
        return int.from_bytes(head[12:16], "big")
    if len(head) < 20:
        raise FormatError(f"truncated ROOT file header: expected 20 bytes, got {len(head)}",
                          path=path, offset=len(head))
    return int.from_bytes(head[12:20], "big")


def get_tree(rfile: Any, name: str, path: str, what: str) -> Any:
    """Return the TTree ``name`` of an open file or raise a FormatError saying what was expected."""
    try:
        keys = rfile.keys(cycle=False)
    except Exception as err:
        raise FormatError(f"cannot list the keys of the ROOT file: {_describe(err)}",
                          path=path) from err
    if name not in keys:
        present = ", ".join(keys) or "none"
        raise FormatError(
            f"expected a TTree '{name}' ({what}); keys present: {present}", path=path
        )
    try:
        tree = rfile[name]
        tree.num_entries  # noqa: B018 - force the TTree header to be read now
    except Exception as err:
        raise FormatError(f"cannot read the TTree '{name}': {_describe(err)}", path=path) from err
    if not hasattr(tree, "num_entries"):
        raise FormatError(
            f"expected '{name}' to be a TTree ({what}), found {type(tree).__name__}", path=path
        )
    return tree


def wrap_read_error(err: BaseException, path: str, what: str) -> Km3flowError:
    """Turn an exception raised by uproot while reading data into a FormatError."""
    if isinstance(err, Km3flowError):
        return err
    return FormatError(f"cannot read {what}: {_describe(err)}", path=path)


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def top_trees(path: str | os.PathLike) -> dict[str, int]:
    """Every TTree at the top of a ROOT file, with its number of entries.

    Raises
    ------
    FormatError
        As :func:`open_root_file`, or when uproot cannot read the directory.
    """
    path = os.fspath(path)
    with open_root_file(path) as rfile:
        try:
            names = sorted({k.split(";")[0] for k in rfile.keys(recursive=False,
                                                                 filter_classname="TTree")})
            return {name: int(rfile[name].num_entries) for name in names}
        except Exception as err:  # uproot raises many types on damaged directories
            raise wrap_read_error(err, path, "the trees of the ROOT file") from err


def root_kind(path: str | os.PathLike) -> str:
    """``"offline"`` (aanet tree ``E``) or ``"online"`` (Jpp ``KM3NET_*`` trees).

    Jpp files carry an empty offline tree 'E' beside their online trees (and vice versa):
    the kind is the one whose trees hold entries.

    Raises
    ------
    FormatError
        When the file is not a readable ROOT file or has neither kind of tree.
    """
    path = os.fspath(path)
    stat = os.stat(path)
    return _root_kind(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _root_kind(path: str, mtime_ns: int, size: int) -> str:
    # Cached by (path, mtime, size): the offline and the online sniff both ask.
    with open_root_file(path) as rfile:
        try:
            names = {k.split(";")[0] for k in rfile.keys(recursive=False,
                                                         filter_classname="TTree")}
            # The names decide unless both kinds of tree are there: reading a TTree's header
            # (for num_entries) deserialises all its branches, ~40 ms for an offline file,
            # which a thousand-file run would pay again in every reader.
            both = "E" in names and any(k.startswith("KM3NET_") for k in names)
            entries = ({k: int(rfile[k].num_entries) for k in names} if both
                       else dict.fromkeys(names, 1))
        except Exception as err:  # uproot raises many types on damaged directories
            raise wrap_read_error(err, path, "the trees of the ROOT file") from err
    online = sum(n for k, n in entries.items() if k.startswith("KM3NET_"))
    if "E" in entries and (entries["E"] > 0 or online == 0):
        return "offline"
    if online > 0 or any(k.startswith("KM3NET_") for k in entries):
        return "online"
    raise FormatError("a ROOT file, but with neither an offline tree 'E' nor online "
                      f"KM3NET_* trees (TTrees: {', '.join(sorted(entries)) or 'none'})", path=path)
