"""Directions of particles: zenith, azimuth, angles between directions, source directions.

The names and conventions are KM3Pipe's (``km3pipe.math``): KM3NeT gives ``zenith`` and
``azimuth`` of the direction a particle *comes from* (a down-going track has zenith 0,
an up-going one π), while ``theta``/``phi`` are the polar angles of the direction it moves
in.  Every function takes one vector ``(3,)``, a stack ``(n, 3)`` or a Table (any
structured array) with ``dir_x``, ``dir_y``, ``dir_z`` columns, and answers with a scalar
for a single vector and an array of ``n`` values otherwise.  Angles are in radians.

Python 3 imports are absolute, so ``import math`` inside km3flow still gives the standard
library; this module is ``km3flow.math``.

Examples
--------
>>> zenith((0, 0, -1)), zenith((0, 0, 1))  # down-going, up-going
(0.0, 3.141592653589793)
>>> float(azimuth((1, 0, 0)))  # moving along +x: comes from azimuth π
3.141592653589793
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "angle_between",
    "azimuth",
    "neutrino_to_source_direction",
    "phi",
    "source_to_neutrino_direction",
    "theta",
    "unit_vector",
    "zenith",
]

_DIR = ("dir_x", "dir_y", "dir_z")


def _stack(v: Any) -> tuple[np.ndarray, bool]:
    """``(n, 3)`` float array of ``v`` and whether ``v`` was a single vector."""
    names = getattr(getattr(v, "dtype", None), "names", None)
    if names is not None:
        missing = [c for c in _DIR if c not in names]
        if missing:
            raise ValueError(f"a table of directions needs the columns {', '.join(_DIR)}; "
                             f"missing {', '.join(missing)} (has {', '.join(names)})")
        single = np.ndim(v) == 0
        out = np.stack([np.atleast_1d(np.asarray(v[c], dtype=np.float64)) for c in _DIR],
                       axis=-1)
        return out, single
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise ValueError(f"expected a vector (3,) or a stack of vectors (n, 3), "
                         f"got an array of shape {arr.shape}")
    return np.atleast_2d(arr), arr.ndim == 1


def _answer(values: np.ndarray, single: bool) -> Any:
    return float(values[0]) if single else values


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=1)


def unit_vector(vector: Any) -> npt.NDArray[np.float64]:
    """Return the vectors scaled to length 1 (NaN for a zero vector).

    Parameters
    ----------
    vector : array_like or Table
        A vector ``(3,)``, a stack ``(n, 3)`` or a Table with ``dir_x/y/z``.

    Returns
    -------
    numpy.ndarray
        Of shape ``(3,)`` for a single vector, ``(n, 3)`` otherwise.

    Examples
    --------
    >>> unit_vector((3, 0, 4)).tolist()
    [0.6, 0.0, 0.8]
    """
    v, single = _stack(vector)
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero vector has no direction
        unit = v / _norm(v)[:, None]
    return unit[0] if single else unit


def theta(v: Any) -> Any:
    """Return the polar angle θ = arccos(dir_z) of the direction of motion.

    Up-going tracks have θ = 0, horizontal ones π/2, down-going ones π (the opposite of
    :func:`zenith`).  As in KM3Pipe, ``dir_z`` is taken as given (directions are unit
    vectors in KM3NeT files): NaN where it lies outside [-1, 1].

    Examples
    --------
    >>> theta((0, 0, 1)), theta((0, 0, -1))
    (0.0, 3.141592653589793)
    """
    vs, single = _stack(v)
    with np.errstate(invalid="ignore"):
        return _answer(np.arccos(vs[:, 2]), single)


def phi(v: Any) -> Any:
    """Return the azimuthal angle φ ∈ [0, 2π) of the direction of motion (from +x to +y).

    Examples
    --------
    >>> phi((0, 1, 0)), phi((0, -1, 0))
    (1.5707963267948966, 4.71238898038469)
    """
    vs, single = _stack(v)
    p = np.arctan2(vs[:, 1], vs[:, 0])
    p[p < 0] += 2 * np.pi
    return _answer(p, single)


def zenith(v: Any) -> Any:
    """Return the zenith angle of the direction a particle comes from.

    Down-going tracks have zenith 0, horizontal ones π/2, up-going ones π; the vectors
    need not be normalised.

    Parameters
    ----------
    v : array_like or Table
        Directions of motion: ``(3,)``, ``(n, 3)`` or a Table with ``dir_x/y/z``.

    Returns
    -------
    float or numpy.ndarray
        Zenith angles in radians.

    Examples
    --------
    >>> zenith((1, 0, 0))
    1.5707963267948966
    >>> zenith([[0, 0, -2], [0, 0, 5]]).tolist()
    [0.0, 3.141592653589793]
    """
    vs, single = _stack(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = -(vs[:, 2] / _norm(vs))
    return _answer(np.arccos(np.clip(cos, -1, 1)), single)


def azimuth(v: Any) -> Any:
    """Return the azimuth ∈ [0, 2π) of the direction a particle comes from (KM3NeT's).

    It is :func:`phi` of the direction of motion turned by π.  Beware: KM3NeT's azimuth
    is not the astronomical one (SLALIB, astropy).

    Parameters
    ----------
    v : array_like or Table
        Directions of motion: ``(3,)``, ``(n, 3)`` or a Table with ``dir_x/y/z``.

    Returns
    -------
    float or numpy.ndarray
        Azimuths in radians.

    Notes
    -----
    KM3Pipe returns a scalar also for a stack of one vector; km3flow returns an array
    of one value then.

    Examples
    --------
    >>> azimuth((0, 1, 0))  # moving along +y: comes from -y
    4.71238898038469
    """
    vs, single = _stack(v)
    p = np.arctan2(vs[:, 1], vs[:, 0])
    p[p < 0] += 2 * np.pi
    azi = p - np.pi
    azi[azi < 0] += 2 * np.pi
    return _answer(azi, single)


def angle_between(v1: Any, v2: Any, axis: int | None = None) -> Any:
    """Return the angles between directions ``v1`` and ``v2``, in [0, π].

    Parameters
    ----------
    v1, v2 : array_like or Table
        Vectors ``(3,)``, stacks ``(n, 3)`` or Tables with ``dir_x/y/z``; a single vector
        is compared with every row of the other argument, two stacks row by row.
    axis : {None, 0, 1}
        For code ported from KM3Pipe: ``axis=1`` is the row-by-row default; ``axis=0``
        with two stacks gives KM3Pipe's ``(n, m)`` matrix of all pairs.

    Returns
    -------
    float or numpy.ndarray
        The angles in radians.

    Raises
    ------
    ValueError
        For stacks of different lengths, or an ``axis`` other than None, 0 or 1.

    Examples
    --------
    >>> angle_between((1, 0, 0), (0, 1, 0))
    1.5707963267948966
    >>> angle_between([[1, 0, 0], [1, 0, 0]], [[0, 1, 0], [-1, 0, 0]]).tolist()
    [1.5707963267948966, 3.141592653589793]
    """
    if axis not in (None, 0, 1):
        raise ValueError(f"unsupported axis {axis!r}: use None (or 1) for row by row, "
                         "0 for all pairs")
    a, single_a = _stack(v1)
    b, single_b = _stack(v2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ua = a / _norm(a)[:, None]
        ub = b / _norm(b)[:, None]
    if axis == 0 and not single_a and not single_b:
        return np.arccos(np.clip(ua @ ub.T, -1, 1))
    if len(ua) != len(ub) and not (single_a or single_b):
        raise ValueError(f"stacks of {len(ua)} and {len(ub)} vectors: compare row by row "
                         "needs equal lengths (or one single vector)")
    cos = np.einsum("ij,ij->i", *np.broadcast_arrays(ua, ub))
    return _answer(np.arccos(np.clip(cos, -1, 1)), single_a and single_b)


def _directions(first: npt.ArrayLike, second: npt.ArrayLike, radian: bool
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    scalar = a.ndim == 0 and b.ndim == 0
    if not radian:
        a, b = np.deg2rad(a), np.deg2rad(b)
    return a, b, scalar


def _finish(a: np.ndarray, b: np.ndarray, radian: bool, scalar: bool) -> tuple[Any, Any]:
    if not radian:
        a, b = np.rad2deg(a), np.rad2deg(b)
    if scalar:
        return float(a), float(b)
    return a, b


def neutrino_to_source_direction(phi: npt.ArrayLike, theta: npt.ArrayLike,
                                 radian: bool = True) -> tuple[Any, Any]:
    """Turn the direction of motion (φ, θ) into the direction of the source (azimuth, zenith).

    Parameters
    ----------
    phi, theta : float or array_like
        Azimuthal angle in [0, 2π] and polar angle in [0, π] of the neutrino's motion.
    radian : bool
        Angles in and out in radians (default) or degrees.

    Returns
    -------
    azimuth, zenith : float or numpy.ndarray
        ``(φ + π) mod 2π`` and ``π - θ``; scalars for scalars (KM3Pipe always returns
        arrays).

    Raises
    ------
    ValueError
        When φ exceeds 2π or θ exceeds π (KM3Pipe asserts the same).

    Examples
    --------
    >>> neutrino_to_source_direction(0.0, 0.0)
    (3.141592653589793, 3.141592653589793)
    >>> neutrino_to_source_direction(90, 45, radian=False)
    (270.0, 135.0)
    """
    p, t, scalar = _directions(phi, theta, radian)
    if np.any(p > 2 * np.pi) or np.any(t > np.pi):
        raise ValueError(f"phi must be at most 2π and theta at most π "
                         f"({'radians' if radian else 'degrees converted to radians'}); "
                         f"got phi up to {np.max(p)}, theta up to {np.max(t)}")
    return _finish((p + np.pi) % (2 * np.pi), np.pi - t, radian, scalar)


def source_to_neutrino_direction(azimuth: npt.ArrayLike, zenith: npt.ArrayLike,
                                 radian: bool = True) -> tuple[Any, Any]:
    """Turn the direction of the source (azimuth, zenith) into the direction of motion (φ, θ).

    The inverse of :func:`neutrino_to_source_direction`: ``(azimuth - π) mod 2π`` and
    ``π - zenith``.

    Examples
    --------
    >>> source_to_neutrino_direction(270, 135, radian=False)
    (90.0, 45.0)
    """
    a, z, scalar = _directions(azimuth, zenith, radian)
    return _finish((a - np.pi) % (2 * np.pi), np.pi - z, radian, scalar)
