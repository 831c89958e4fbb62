"""
A pipeline with an HDF5 round trip
==================================

Events from a DAQ file and from an offline ROOT file go through one pipeline: a pump for
any format (``FilePump``), the calibration, a module of our own, and ``HDF5Sink`` writing
KM3Pipe's HDF5 layout. ``HDF5Pump`` reads the file back blob by blob, with the same tables
and columns (one schema, whatever the source).
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from km3net_testdata import data_path

import km3flow as kp

folder = Path(tempfile.mkdtemp(prefix="km3flow_gallery_"))
output = folder / "events.h5"
written = []  # hits per event as they went into the sink


class HitCounter(kp.Module):
    """Adds the number of triggered hits to every blob and counts the events."""

    def configure(self):
        self.events = 0

    def process(self, blob):
        self.events += 1
        written.append(len(blob["Hits"]))
        blob["NTriggered"] = kp.Table({"n_triggered": [int(blob["Hits"].triggered.sum())]},
                                      h5loc="/n_triggered", name="NTriggered")
        return blob

    def finish(self):
        return {"events": self.events}


pipe = kp.Pipeline()
pipe.attach(kp.io.FilePump, filenames=[data_path("daq/IO_EVT.dat"),
                                       data_path("offline/km3net_offline.root")])
pipe.attach(kp.calib.Calibration, detector=data_path("detx/km3net_offline.detx"))
pipe.attach(HitCounter)
pipe.attach(kp.io.HDF5Sink, filename=str(output))
summary = pipe.drain()

# %%
# Back from the file: the same blobs, group by group.
with kp.io.HDF5Pump(filename=str(output)) as pump:
    n_hits = [len(blob["Hits"]) for blob in pump]
    first = pump[0]
print(f"{len(n_hits)} events read back; tables of the first: {sorted(first.keys())}")
print(f"hit columns: {first['Hits'].dtype.names}")
assert n_hits == written, "the file holds other hits than were written"
print("hits per event read back == written:", n_hits == written)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.bar(np.arange(len(n_hits)), n_hits, color=["C0"] * 3 + ["C1"] * (len(n_hits) - 3),
       label="read back")
ax.plot(np.arange(len(written)), written, "k_", ms=20, mew=2, label="written")
ax.legend()
ax.set_xlabel("group_id (3 DAQ events, then 10 offline events)")
ax.set_ylabel("hits")
ax.set_title(f"{output.name}: hits per event after the HDF5 round trip")
plt.show()
