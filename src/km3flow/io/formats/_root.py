"""What the offline and the online ROOT formats share: the magic bytes, then the trees."""

from __future__ import annotations

ROOT_MAGIC = b"root"


def is_root_kind(head: bytes, path: str, kind: str) -> bool:
    """Whether ``path`` is a ROOT file of ``kind`` (``"offline"`` or ``"online"``).

    uproot is imported only for files that start with the ROOT magic bytes; an unreadable
    ROOT file, or one with neither kind of tree, raises a FormatError
    (:func:`km3flow.io.root._file.root_kind`).
    """
    if not head.startswith(ROOT_MAGIC):
        return False
    from ..root._file import root_kind

    return root_kind(path) == kind
