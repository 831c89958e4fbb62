"""Notes on an exception on every supported Python (``BaseException.add_note`` is 3.11+).

The CLI prints ``err.__notes__`` after the message (:func:`km3flow.cli.main.main`), so a note
added here reaches the user on Python 3.10 too.
"""

from __future__ import annotations

import sys


def add_note(err: BaseException, note: str) -> None:
    """Append ``note`` to ``err.__notes__``, as ``err.add_note(note)`` does on Python 3.11+.

    Examples
    --------
    >>> err = ValueError("bad")
    >>> add_note(err, "in file x")
    >>> err.__notes__
    ['in file x']
    """
    if sys.version_info >= (3, 11):
        err.add_note(note)
    else:  # pragma: no cover - Python 3.10
        # (setattr: Python 3.10's BaseException declares no __notes__)
        setattr(err, "__notes__", [*getattr(err, "__notes__", []), note])  # noqa: B010
