"""
Hits of an offline event, calibrated with its detector
======================================================

An offline ROOT file (aanet format, read through uproot by ``OfflinePump``) holds per event
the hits, MC hits and tracks, reconstructions. Its hits carry DOM and channel but no
positions; ``kp.calib.calibrate`` adds the PMT positions, directions and ``t0`` of the
detector file (``km3net_offline.detx``, the same detector).
"""

import matplotlib.pyplot as plt
import numpy as np
from km3net_testdata import data_path

import km3flow as kp
import km3flow.reco

pump = kp.io.OfflinePump(filename=data_path("offline/km3net_offline.root"))
det = kp.io.read_detector(data_path("detx/km3net_offline.detx"))
blob = pump[0]
hits = kp.calib.calibrate(blob["Hits"], det)
print(f"{len(pump)} events; event 0 has {len(hits)} hits, {int(hits.triggered.sum())} triggered")

# %%
# The best JMuon fit of the event, for its direction (``km3flow.reco``, as km3io's
# ``best_jmuon``).
best = km3flow.reco.best_jmuon(blob["Tracks"])
print(f"best JMuon: zenith {np.degrees(km3flow.math.zenith(best))[0]:.1f} deg")

# %%
# The hits in 3D, coloured by time, triggered hits larger, on the detector's DOMs (grey).
# (The fit is shown by its zenith only: its position is in the coordinates of the
# simulation, which this sample's detector file does not share.)
fig = plt.figure(figsize=(9, 7))
ax = fig.add_subplot(projection="3d")
ax.scatter(*det.dom_positions.T, s=12, c="0.75", depthshade=False)  # DOM centres (from PMTs)
t = hits.time - hits.time.min()
size = np.where(hits.triggered, 40, 10)
sc = ax.scatter(hits.pos_x, hits.pos_y, hits.pos_z, c=t, s=size, cmap="viridis")
ax.set_xlabel("x / m")
ax.set_ylabel("y / m")
ax.set_zlabel("z / m")
ax.set_title(f"event 0: {len(hits)} hits; best JMuon zenith "
             f"{np.degrees(km3flow.math.zenith(best))[0]:.1f}°")
fig.colorbar(sc, ax=ax, shrink=0.6, label="time / ns (from the first hit)")
plt.show()
