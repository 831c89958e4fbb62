"""
Hits binned into images
=======================

Deep-learning inputs in km3flow are fixed-shape histograms of the hits ("images"), made by
``km3flow.ml.binning.bin_hits`` for many events in one vectorised call (``km3flow bin``
and the ``ImageBinner`` module use it). Here the 3 events of a DAQ file, calibrated with
their detector, become height × time images (time relative to the mean time of the
triggered hits), and DU × time images with a categorical axis.
"""

import matplotlib.pyplot as plt
import numpy as np
from km3net_testdata import data_path

import km3flow as kp
from km3flow.io.daq import read_events
from km3flow.ml.binning import Dimension, bin_hits

events = read_events(data_path("daq/IO_EVT.dat"))
det = kp.io.read_detector(data_path("detx/km3net_offline.detx"))
hits = kp.calib.calibrate(events.hits, det)  # all events at once: positions, t0, du, floor

z_time = [
    Dimension("pos_z", edges=np.linspace(np.nanmin(hits.pos_z) - 5, np.nanmax(hits.pos_z) + 5, 19)),
    Dimension("time", edges=np.linspace(-800.0, 1200.0, 41)),
]
images = bin_hits(hits, events.hits_offsets, z_time, time_ref="mean_triggered")
print(f"images: {images.shape} (events, z bins, time bins), {images.sum():.0f} hits binned")

# %%
du_time = [Dimension("du", categories=np.unique(det.doms.du)), z_time[1]]
by_du = bin_hits(hits, events.hits_offsets, du_time, time_ref="mean_triggered",
                 weights="tot")

fig, axes = plt.subplots(2, len(images), figsize=(11, 6), sharex=True)
edges_z, edges_t = z_time[0].edges, z_time[1].edges
for k in range(len(images)):
    axes[0, k].pcolormesh(edges_t, edges_z, images[k], cmap="magma")
    axes[0, k].set_title(f"trigger {events.info.trigger_counter[k]}: hits")
    n_du = len(du_time[0].categories)
    axes[1, k].pcolormesh(edges_t, np.arange(n_du + 1), by_du[k], cmap="viridis")
    axes[1, k].set_yticks(np.arange(n_du) + 0.5, du_time[0].categories)
    axes[1, k].set_title("ToT sum per DU")
    axes[1, k].set_xlabel("time - mean triggered time / ns")
axes[0, 0].set_ylabel("z / m")
axes[1, 0].set_ylabel("DU")
fig.tight_layout()
plt.show()
