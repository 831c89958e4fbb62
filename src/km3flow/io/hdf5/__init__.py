"""HDF5 I/O in KM3Pipe's layout (format 5.1): HDF5Sink, HDF5Pump and HDF5Header.

PyTables is imported when this package is first used (``km3flow.io`` loads it lazily).
"""

from .format import FORMAT_VERSION, MINIMUM_FORMAT_VERSION, open_km3_file
from .header import HDF5Header, header2table
from .provenance import read_provenance
from .pump import HDF5Pump
from .sink import HDF5Sink, HDF5WriteError

__all__ = [
    "FORMAT_VERSION",
    "MINIMUM_FORMAT_VERSION",
    "HDF5Header",
    "HDF5Pump",
    "HDF5Sink",
    "HDF5WriteError",
    "header2table",
    "open_km3_file",
    "read_provenance",
]
