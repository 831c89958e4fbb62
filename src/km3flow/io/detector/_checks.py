"""Sanity checks of PMT directions read from DETX and DATX files.

A non-finite direction (NaN, inf) cannot be a direction: a :class:`FormatError` names the
file, the line (DETX) or byte offset (DATX) and the PMT id. A direction whose length is not 1
is kept (calibration copies it as it is) but counted and logged once per file: files written
with 3 decimals deviate by up to ``5e-4 * (|dx| + |dy| + |dz|) <= 8.7e-4``, the largest
deviation in km3net-testdata's detector files is 5.9e-4, so the tolerance is
:data:`UNIT_TOLERANCE` = 1e-3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...exceptions import FormatError
from ...logger import get_logger

log = get_logger("km3flow.io.detector")

UNIT_TOLERANCE = 1e-3


def check_pmt_directions(dirs: np.ndarray, pmt_ids: np.ndarray, path: Any,
                         lines: np.ndarray | None = None,
                         offsets: np.ndarray | None = None) -> None:
    """Raise for a non-finite PMT direction; log non-unit ones once (see the module doc).

    ``lines`` (1-based, DETX) or ``offsets`` (bytes of the direction fields, DATX) locate
    each PMT in the file.
    """
    if not len(dirs):
        return
    finite = np.isfinite(dirs).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        n_bad = int(np.count_nonzero(~finite))
        more = f" ({n_bad} PMTs in all)" if n_bad > 1 else ""
        raise FormatError(
            f"expected a finite direction (dx dy dz) for PMT {int(pmt_ids[k])}, got "
            f"({', '.join(repr(float(v)) for v in dirs[k])}){more}", path=path,
            line=None if lines is None else int(lines[k]),
            offset=None if offsets is None else int(offsets[k]))
    deviation = np.abs(np.sqrt(np.einsum("ij,ij->i", dirs, dirs)) - 1.0)
    off = deviation > UNIT_TOLERANCE
    if off.any():
        k = int(np.argmax(deviation))
        where = (f"line {int(lines[k])}" if lines is not None
                 else f"byte {int(offsets[k])}" if offsets is not None else f"row {k}")
        log.warning("%s: %d of %d PMT directions are not unit vectors (length off 1 by "
                    "more than %g); the largest deviation, %.3g, is PMT %d at %s", path,
                    int(off.sum()), len(dirs), UNIT_TOLERANCE, float(deviation[k]),
                    int(pmt_ids[k]), where)
