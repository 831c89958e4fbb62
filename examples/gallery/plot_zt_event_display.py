"""
ZT event display of a DAQ event
===============================

A triggered event from a raw DAQ stream (``IO_EVT.dat``, as the data writer records it):
its hits carry a DOM id, a PMT channel and a time. Calibrated with the detector file, every
hit gets its PMT's position and the time offset ``t0``; the "ZT" display shows hit time
against height, one panel per detection unit, triggered hits ringed.
"""

import matplotlib.pyplot as plt
import numpy as np
from km3net_testdata import data_path

import km3flow as kp
from km3flow.io.daq import read_events

events = read_events(data_path("daq/IO_EVT.dat"))
det = kp.io.read_detector(data_path("detx/km3net_offline.detx"))
print(f"{len(events.info)} events, {len(events.hits)} hits; detector {det.det_id}")

# %%
# The hits of the first event, calibrated: ``pos_*``, ``dir_*``, ``t0``, ``du``, ``floor``
# are added and ``time`` becomes ``time + t0``.
first = slice(events.hits_offsets[0], events.hits_offsets[1])
hits = kp.calib.calibrate(events.hits[first], det)
dus = hits.du  # calibrate() adds du and floor too
print(f"columns after calibration: {hits.dtype.names}")

# %%
t = hits.time - hits.time[hits.triggered].min()
shown = np.unique(dus)
fig, axes = plt.subplots(1, shown.size, figsize=(2.2 * shown.size, 4.5), sharey=True,
                         squeeze=False)
for ax, du in zip(axes[0], shown):
    on = dus == du
    ax.scatter(t[on], hits.pos_z[on], s=8, c=hits.tot[on], cmap="plasma", vmin=0, vmax=60)
    trig = on & hits.triggered
    ax.scatter(t[trig], hits.pos_z[trig], s=40, facecolors="none", edgecolors="k", lw=0.8)
    ax.set_title(f"DU {du}")
    ax.set_xlabel("time / ns")
axes[0, 0].set_ylabel("z / m")
fig.suptitle(f"trigger {events.info.trigger_counter[0]} of run {events.info.run_id[0]} "
             f"({int(hits.triggered.sum())} triggered of {len(hits)} hits)")
fig.tight_layout()
plt.show()
