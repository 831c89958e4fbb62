"""
A training and its summary plot
===============================

The training organiser (OrcaNet's role) in a few lines: the hits of 500 simulated
atmospheric muons (``hdf5/atmospheric_muons_sample.h5``, KM3Pipe layout) are binned into PMT
channel × time images with their direction as labels, split into training and validation
files, and a small CNN learns the direction for a few epochs on the CPU. The organiser
writes ``summary.txt`` and the summary plot shown below (losses against fractional epochs,
learning rate), per-batch logs and checkpoints, from which a second run resumes.
"""

import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import tables
from km3net_testdata import data_path

from km3flow.ml import Organizer
from km3flow.ml.binjob import bin_files
from km3flow.ml.h5layout import TrainingFileWriter
from km3flow.ml.models import small_cnn

folder = Path(tempfile.mkdtemp(prefix="km3flow_gallery_"))
bin_config = {
    "binning": {"time_reference": "mean_triggered"},
    "dimensions": [
        {"column": "channel_id", "categories": "auto"},
        {"column": "time", "range": [-500.0, 1500.0], "bins": 20},
    ],
    "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy"]},
}
info = bin_files(bin_config, [data_path("hdf5/atmospheric_muons_sample.h5")],
                 folder / "all.h5")
print(f"binned {info['events']} events into images of shape {info['shape']}")

# %%
# 400 events for training, 100 for validation; the list file and the config.
with tables.open_file(str(folder / "all.h5")) as h5:
    x, y = h5.root.x[:], h5.root.y[:]
for name, rows in (("train", slice(0, 400)), ("validation", slice(400, None))):
    with TrainingFileWriter(folder / f"{name}.h5") as writer:
        writer.append(images={"/x": x[rows]}, tables={"/y": y[rows]})
(folder / "list.toml").write_text(
    '[input xy]\ntrain_files = ["train.h5"]\nvalidation_files = ["validation.h5"]\n')
(folder / "config.toml").write_text("""
[training]
batch_size = 32
epochs = 4
seed = 1
summaries_per_epoch = 2
[optimizer]
name = "adam"
lr = 0.003
[schedule]
name = "exponential"
gamma = 0.8
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["mae"]
""")

# %%
# Train, validate, log, plot.
organizer = Organizer(folder / "run", folder / "list.toml", folder / "config.toml")
model = small_cnn(organizer.input_set("train").sample_shapes, {"dir": 3})
organizer.train_and_validate(model)
print((folder / "run" / "summary.txt").read_text())

# %%
# The organiser's own summary plot, as written to ``run/summary.png``.
fig, ax = plt.subplots(figsize=(7, 7.5))
ax.imshow(mpimg.imread(folder / "run" / "summary.png"))
ax.set_axis_off()
plt.show()
