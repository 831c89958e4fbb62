"""HDF5 I/O in KM3Pipe's layout (format 5.1): HDF5Sink, HDF5Pump, HDF5Header
and merge_hdf5 (joining the part files of a parallel drain).

PyTables is imported when this package is first used (``km3flow.io`` loads it lazily).
"""

from .format import FORMAT_VERSION, MINIMUM_FORMAT_VERSION, open_km3_file
from .header import HDF5Header, header2table
from .merge import merge_hdf5
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
    "merge_hdf5",
    "open_km3_file",
    "read_provenance",
]
