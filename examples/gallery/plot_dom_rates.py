"""
DOM rates of a summary slice
============================

A DAQ summary slice holds, for every DOM, the hit rate of each of its 31 PMTs in a
timeslice (100 ms), with status bits (high-rate veto, FIFO almost full, UDP trailer).
``read_summaryslices`` reads all slices of a file at once; the DOMs are placed on their
detection unit (DU) and floor with the detector file of the same detector (id 44).
"""

import matplotlib.pyplot as plt
import numpy as np
from km3net_testdata import data_path
from matplotlib.colors import LogNorm

import km3flow as kp
from km3flow.io.daq import read_summaryslices

slices = read_summaryslices(data_path("daq/IO_SUM.dat"))
det = kp.io.read_detector(data_path("detx/km3net_offline.detx"))
print(f"{len(slices)} summary slices; frames per slice: {np.diff(slices.offsets)}")

# %%
# The frames of the first slice: one row per DOM, ``rates`` in Hz per PMT.
frames = slices.frames[slices.offsets[0]:slices.offsets[1]]
dom_rate_khz = frames.rates.sum(axis=1) / 1e3

# %%
# Left, a DU × floor map (the detector file tells where each DOM sits; log colour scale);
# right, the 31 PMT rates of the DOM with the highest rate.
doms = det.doms
idx = det.dom_index(frames.dom_id)
du, floor = doms.du[idx], doms.floor[idx]
dus = np.unique(doms.du)
grid = np.full((doms.floor.max() + 1, dus.size), np.nan)
grid[floor, np.searchsorted(dus, du)] = dom_rate_khz

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5), width_ratios=[1, 1.4])
im = ax1.imshow(grid, origin="lower", aspect="auto", cmap="viridis", norm=LogNorm())
ax1.set_xticks(range(dus.size), dus)
ax1.set_xlabel("DU")
ax1.set_ylabel("floor")
ax1.set_title(f"slice {slices.info.slice_id[0]}: DOM rates")
fig.colorbar(im, ax=ax1, label="rate / kHz")

# right: the 31 PMT rates of the DOM with the highest rate
top = int(np.argmax(dom_rate_khz))
ax2.bar(np.arange(31), frames.rates[top] / 1e3)
ax2.set_xlabel("PMT channel")
ax2.set_ylabel("rate / kHz")
ax2.set_title(f"DOM {frames.dom_id[top]} (DU {du[top]}, floor {floor[top]})")
fig.tight_layout()
plt.show()
