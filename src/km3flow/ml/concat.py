"""Several training files (images, point clouds, any KM3Pipe-layout files) joined into one.

``km3flow concat A.h5 B.h5 … -o ALL.h5`` (OrcaSong's ``concatenate``). The merger of the
parallel runs does the work: every per-event node is concatenated in input order,
``group_id`` continues across the files, index tables (``_indices``) are shifted, and
singletons are kept once (see :func:`km3flow.io.hdf5.merge.merge_hdf5`). Data are
copied in chunks; the output is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .h5events import GroupedFile, check_output


def concat_files(inputs: Sequence[str | os.PathLike], output: str | os.PathLike,
                 overwrite: bool = False) -> dict[str, Any]:
    """Write the events of ``inputs`` one file after the other into ``output``.

    Parameters
    ----------
    inputs
        Files with the same layout (the same nodes, dtypes and image shapes).
    output
        File to write (never one of the inputs).
    overwrite
        Replace an existing ``output``.

    Returns
    -------
    dict
        ``events`` (total), ``per_file`` (events of each input) and ``output``.

    Raises
    ------
    ConfigError
        No inputs, or ``output`` exists (without ``overwrite``) or is an input.
    FormatError
        An input is not a finished KM3Pipe-layout file or its layout differs from the
        first input's (names the file and the node).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> muons = data_path("hdf5/atmospheric_muons_sample.h5")
    >>> concat_files([muons, muons], "twice.h5")["events"]
    1000
    """
    from ..io.hdf5.merge import merge_hdf5

    if not inputs:
        raise ConfigError("concat needs at least one input file")
    output = check_output(output, overwrite, inputs)
    per_file = []
    first: GroupedFile | None = None
    try:
        for p in inputs:
            g = GroupedFile(p)
            per_file.append(len(g))
            if first is None:
                first = g
                continue
            with g:
                first.check_same_layout(g)
    finally:
        if first is not None:
            first.close()
    tmp = Path(output).with_name(f".{Path(output).name}.tmp{os.getpid()}")
    try:
        merge_hdf5(list(inputs), tmp)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return {"events": sum(per_file), "per_file": per_file, "output": Path(output)}
