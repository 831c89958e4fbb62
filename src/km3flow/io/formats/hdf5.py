"""The HDF5 format (KM3Pipe's layout), recognised by the HDF5 signature."""

from __future__ import annotations

from . import FormatSpec

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def sniff(head: bytes, path: str) -> bool:
    """An HDF5 file starts with the 8-byte HDF5 signature."""
    return head.startswith(HDF5_MAGIC)


FORMAT = FormatSpec("hdf5", sniff, pump="km3flow.io.hdf5.pump:HDF5Pump", order=10,
                    family="hdf5", description="HDF5 file")
