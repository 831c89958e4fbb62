"""Monte Carlo particle codes: GEANT3 → PDG, PDG ↔ names, neutrino and muon flags.

The names are KM3Pipe's (``km3pipe.mc``), so ported analysis code reads the same; the values
are those of the Scikit-HEP ``particle`` tables KM3Pipe looks up (shipped here as
:mod:`km3flow._particle_data`, so there is no run-time dependency).  Every function takes a
scalar or an array and answers in kind: a Python scalar for a scalar, a NumPy array of the
input's shape for an array (KM3Pipe's ``geant2pdg``/``pdg2name`` take scalars only).

Examples
--------
>>> geant2pdg(5), pdg2name(-16), name2pdg("nu(mu)~")
(-13, 'nu(tau)~', -14)
>>> is_neutrino([12, 13, -14]).tolist()
[True, False, True]
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ._particle_data import GEANT3_TO_PDG, NUCLEI, PDG_NAMES
from .exceptions import Km3flowError

__all__ = [
    "ParticleError",
    "geant2pdg",
    "is_muon",
    "is_neutrino",
    "name2pdg",
    "pdg2name",
]

#: What :func:`pdg2name` answers for a code without a particle (KM3Pipe's "N/A").
UNKNOWN_NAME = "N/A"

_NUCLEUS_BASE = 1_000_000_000
_NUCLEUS_NAME = re.compile(r"([A-Z][a-z]?)(\d+)(~?)")


class ParticleError(Km3flowError, ValueError):
    """A particle name or code that the PDG tables do not know."""


@lru_cache(maxsize=1)
def _geant_lookup() -> tuple[np.ndarray, np.ndarray]:
    keys = np.fromiter(GEANT3_TO_PDG, dtype=np.int64)
    order = np.argsort(keys)
    values = np.fromiter(GEANT3_TO_PDG.values(), dtype=np.int64)
    return keys[order], values[order]


def geant2pdg(geant_code: npt.ArrayLike) -> Any:
    """Convert GEANT3 particle codes to PDG codes; 0 where GEANT3 has no such code.

    Parameters
    ----------
    geant_code : int or array_like of int
        GEANT3 particle codes, e.g. the ``type`` of tracks in old EVT/aanet files.

    Returns
    -------
    int or numpy.ndarray of int64
        The PDG codes, of the input's shape.

    Examples
    --------
    >>> geant2pdg(1), geant2pdg(6), geant2pdg(-999)
    (22, 13, 0)
    >>> geant2pdg([5, 6, 14]).tolist()
    [-13, 13, 2212]
    """
    codes = np.asarray(geant_code)
    if codes.dtype.kind not in "iub":
        raise ParticleError(f"GEANT3 codes must be integers, got dtype {codes.dtype}")
    keys, values = _geant_lookup()
    flat = codes.astype(np.int64).ravel()
    pos = np.minimum(np.searchsorted(keys, flat), len(keys) - 1)
    out = np.where(keys[pos] == flat, values[pos], 0).reshape(codes.shape)
    return int(out) if out.ndim == 0 else out


def _nucleus_name(code: int) -> str:
    """Name of a nucleus code ±10LZZZAAAI as ``particle`` spells it (``O16``, ``D2~``)."""
    magnitude = abs(code)
    if magnitude // _NUCLEUS_BASE != 1 or magnitude % 10 or (magnitude // 10_000_000) % 10:
        return UNKNOWN_NAME  # hypernuclei and excited states are not in the table
    z, a = (magnitude // 10_000) % 1000, (magnitude // 10) % 1000
    if z not in NUCLEI:
        return UNKNOWN_NAME
    symbol, ranges = NUCLEI[z]
    if not any(lo <= a <= hi for lo, hi in ranges):
        return UNKNOWN_NAME
    if z == 0:
        name = "n"
    elif z == 1:
        name = {1: "p", 2: "D2", 3: "T3"}.get(a, f"H{a}")
    else:
        name = f"{symbol}{a}"
    return name + ("~" if code < 0 else "")


def _name_of(code: int) -> str:
    name = PDG_NAMES.get(code)
    if name is not None:
        return name
    return _nucleus_name(code) if abs(code) >= _NUCLEUS_BASE else UNKNOWN_NAME


def pdg2name(pdg_id: npt.ArrayLike) -> Any:
    """Return the particle names of PDG codes, ``"N/A"`` for codes without a particle.

    Parameters
    ----------
    pdg_id : int or array_like of int
        PDG Monte Carlo particle codes (nuclei as ±10LZZZAAAI).

    Returns
    -------
    str or numpy.ndarray of str
        The names of the ``particle`` package (``"mu-"``, ``"nu(tau)~"``, ``"O16"``),
        of the input's shape.

    Notes
    -----
    KM3Pipe 11 raises ``ParticleNotFound`` for well-formed codes missing from the table
    (e.g. 99999); km3flow answers ``"N/A"`` for every unknown code.

    Examples
    --------
    >>> pdg2name(13), pdg2name(-16), pdg2name(1000080160), pdg2name(0)
    ('mu-', 'nu(tau)~', 'O16', 'N/A')
    >>> pdg2name([14, -14]).tolist()
    ['nu(mu)', 'nu(mu)~']
    """
    codes = np.asarray(pdg_id)
    if codes.dtype.kind not in "iub":
        raise ParticleError(f"PDG codes must be integers, got dtype {codes.dtype}")
    if codes.ndim == 0:
        return _name_of(int(codes))
    unique, inverse = np.unique(codes.astype(np.int64), return_inverse=True)
    names = np.array([_name_of(int(c)) for c in unique], dtype=str)
    return names[inverse.reshape(codes.shape)]


@lru_cache(maxsize=1)
def _names_to_codes() -> tuple[dict[str, int], dict[str, list[int]]]:
    """Name → code of the unique names, and name → codes of names several particles share."""
    codes: dict[str, list[int]] = {}
    for code, name in PDG_NAMES.items():
        codes.setdefault(name, []).append(code)
    unique = {name: found[0] for name, found in codes.items() if len(found) == 1}
    shared = {name: found for name, found in codes.items() if len(found) > 1}
    return unique, shared


def _code_of(name: str) -> int:
    unique, shared = _names_to_codes()
    if name in unique:
        return unique[name]
    if name in shared:
        raise ParticleError(f"the name {name!r} is shared by the PDG codes "
                            f"{', '.join(map(str, shared[name]))}; use the code")
    match = _NUCLEUS_NAME.fullmatch(name)
    if match:
        symbol, a, bar = match.group(1), int(match.group(2)), match.group(3)
        symbol = {"D": "H", "T": "H"}.get(symbol, symbol)
        for z, (sym, _) in NUCLEI.items():
            if sym == symbol:
                code = _NUCLEUS_BASE + z * 10_000 + a * 10
                if _nucleus_name(code) == name.rstrip("~"):
                    return -code if bar else code
    known = ", ".join(list(unique)[:12])
    raise ParticleError(
        f"no particle named {name!r} in the PDG table (names as pdg2name gives them, "
        f"e.g. {known}, ..., or nuclei like 'O16')"
    )


def name2pdg(name: str | npt.ArrayLike) -> Any:
    """Return the PDG codes of particle names (the names :func:`pdg2name` gives).

    Parameters
    ----------
    name : str or array_like of str
        Particle names of the ``particle`` package, e.g. ``"mu-"``, ``"nu(e)~"``, ``"O16"``.

    Returns
    -------
    int or numpy.ndarray of int64
        The PDG codes, of the input's shape.

    Raises
    ------
    ParticleError
        For a name that is not in the table, or that names several particles
        (``"psi(4160)"``).

    Notes
    -----
    KM3Pipe 11 returns a ``particle.Particle`` (and fails with ``particle`` ≥ 0.21, which
    dropped ``Particle.from_string``); km3flow returns the code, as ``int(...)`` of
    KM3Pipe's answer would.  ``"n"`` and ``"p"`` are the hadrons 2112 and 2212, as in
    ``particle``.

    Examples
    --------
    >>> name2pdg("mu-"), name2pdg("nu(mu)~"), name2pdg("O16")
    (13, -14, 1000080160)
    >>> name2pdg(["e-", "gamma"]).tolist()
    [11, 22]
    """
    if isinstance(name, str):
        return _code_of(name)
    names = np.asarray(name)
    if names.size and names.dtype.kind not in "UO":
        raise ParticleError(f"particle names must be strings, got dtype {names.dtype}")
    return np.array([_code_of(str(n)) for n in names.ravel()],
                    dtype=np.int64).reshape(names.shape)


def _flag(pdg_types: npt.ArrayLike, codes: tuple[int, ...]) -> Any:
    values = np.asarray(pdg_types)
    if values.dtype.kind not in "iub":
        raise ParticleError(f"PDG codes must be integers, got dtype {values.dtype}")
    out = np.isin(np.abs(values.astype(np.int64)), codes)
    return bool(out) if out.ndim == 0 else out


def is_neutrino(pdg_types: npt.ArrayLike) -> Any:
    """Tell which PDG codes are (anti)neutrinos (±12, ±14, ±16).

    Parameters
    ----------
    pdg_types : int or array_like of int
        PDG codes, e.g. ``McTracks.type``.

    Returns
    -------
    bool or numpy.ndarray of bool
        Of the input's shape (KM3Pipe returns a pandas Series of the same values).

    Examples
    --------
    >>> is_neutrino(-12), is_neutrino([14, 13]).tolist()
    (True, [True, False])
    """
    return _flag(pdg_types, (12, 14, 16))


def is_muon(pdg_types: npt.ArrayLike) -> Any:
    """Tell which PDG codes are muons or antimuons (±13).

    Parameters
    ----------
    pdg_types : int or array_like of int
        PDG codes, e.g. ``McTracks.type``.

    Returns
    -------
    bool or numpy.ndarray of bool
        Of the input's shape.

    Notes
    -----
    KM3Pipe 11's ``is_muon`` is true for -13 (mu+) only, which flags no mu- at all;
    km3flow takes both charges, as the name says.

    Examples
    --------
    >>> is_muon([13, -13, 14]).tolist()
    [True, True, False]
    """
    return _flag(pdg_types, (13,))
