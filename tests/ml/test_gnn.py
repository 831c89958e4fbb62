"""The EdgeConv graph network on point clouds of real events: kNN, masks, training, resume."""

from __future__ import annotations

import numpy as np
import pytest
import tables
import torch
from points_files import COLUMNS

from km3flow.cli.main import main as cli_main
from km3flow.ml import Organizer
from km3flow.ml.dataset import BatchReader, InputSet
from km3flow.ml.models import EdgeConvNet, edgeconv_net, knn

CONFIG = """
[training]
batch_size = 32
epochs = 2
seed = 3
summaries_per_epoch = 2
block_batches = 2
plot = {plot}
[optimizer]
name = "adam"
lr = 0.003
[schedule]
name = "exponential"
gamma = 0.7
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["resolution"]
[outputs.energy]
labels = ["energy"]
transform = "log10"
loss = "gaussian_nll"
weight = 0.5
metrics = ["pull"]
"""


@pytest.fixture(autouse=True)
def one_thread():
    # the network is small: one thread is fastest, and reproducible on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def batch(points_file):
    reader = BatchReader(InputSet({"p": [points_file]}), 16)
    b = next(iter(reader))
    reader.close()
    return torch.from_numpy(b.x["p"]), torch.from_numpy(b.mask["p"])


def test_knn_matches_brute_force_on_real_hits(batch):
    x, mask = batch
    coords = x[..., [0, 1, 2, 6]] * torch.tensor([1, 1, 1, 0.2254])
    idx, valid = knn(coords, mask, 8)
    c = coords.double().numpy()
    for e in range(len(x)):
        n = int(mask[e].sum())
        d = np.linalg.norm(c[e, :n, None] - c[e, None, :n], axis=-1)
        np.fill_diagonal(d, np.inf)
        for i in range(n):
            k = min(8, n - 1)
            got = idx[e, i, :k].numpy()
            assert valid[e, i, :k].all() and not valid[e, i, k:].any()
            assert np.all(got < n)
            np.testing.assert_allclose(np.sort(d[i, got]), np.sort(d[i])[:k], rtol=1e-4)
        assert not valid[e, n:].any()


def test_network_ignores_padding_and_hit_order(batch):
    x, mask = batch
    model = edgeconv_net({"p": (8,)}, {"dir": 3}, {"p": COLUMNS}).eval()
    with torch.no_grad():
        ref = model({"points": x, "mask": mask})["dir"]
        wide = torch.cat([x, torch.randn(x.shape[0], 5, 8) * 100], dim=1)
        wide_mask = torch.cat([mask, torch.zeros(x.shape[0], 5, dtype=torch.bool)], dim=1)
        padded = model({"points": wide, "mask": wide_mask})["dir"]
        perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(1))
        shuffled = model({"points": x[:, perm], "mask": mask[:, perm]})["dir"]
    torch.testing.assert_close(padded, ref, rtol=1e-4, atol=1e-5)
    # another hit order can only change the choice between equidistant neighbours
    torch.testing.assert_close(shuffled, ref, rtol=1e-3, atol=1e-3)
    assert model.coord_index == [0, 1, 2, 6]


def _organizer(folder, out):
    org = Organizer(folder / out, folder / "list.toml", folder / "config.toml")
    org.progress = False
    return org


def _model(org):
    train = org.input_set("train")
    return edgeconv_net(train.sample_shapes, {n: o.size for n, o in org.cfg.outputs.items()},
                        train.columns)


def test_gnn_trains_and_resumes_bit_for_bit(points_workdir):
    folder = points_workdir
    (folder / "config.toml").write_text(CONFIG.format(plot="true"))
    full_org = _organizer(folder, "full")
    full = full_org.train_and_validate(_model(full_org))
    reference = full_org.get_summary_data()
    assert reference.dtype.names[:4] == ("Epoch", "LR", "train_loss", "val_loss")
    assert {"train_dir_resolution", "val_energy_pull"} <= set(reference.dtype.names)
    assert np.isfinite(reference["val_dir_resolution"]).all()
    assert (folder / "full" / "summary.png").stat().st_size > 0
    # the loss goes down on real events
    assert reference["train_loss"][-1] < reference["train_loss"][0]
    half = _organizer(folder, "resumed")
    half.train_and_validate(_model(half), epochs=1)
    org = _organizer(folder, "resumed")
    resumed = _model(org)
    with torch.no_grad():  # other weights: the checkpoint must bring back the trained ones
        for p in resumed.parameters():
            p.add_(1.0)
    org.train_and_validate(resumed)
    np.testing.assert_array_equal(org.get_summary_data(), reference)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    # predictions for the validation points: direction, log10(E) and its sigma per event
    (path,) = org.predict()
    with tables.open_file(str(path)) as h5:
        pred, y = h5.root.pred[:], h5.root.y[:]
    assert pred.dtype.names == ("pred_dir_x", "pred_dir_y", "pred_dir_z", "pred_log10_energy",
                                "sigma_log10_energy", "group_id")
    assert len(pred) == len(y) == 48 and np.all(pred["sigma_log10_energy"] > 0)


def test_km3flow_train_builds_the_gnn_from_the_point_columns(points_workdir):
    folder = points_workdir
    (folder / "config.toml").write_text(CONFIG.format(plot="false").replace(
        "epochs = 2", "epochs = 1"))
    rc = cli_main(["train", str(folder / "list.toml"), str(folder / "config.toml"),
                   "--model", "km3flow.ml.models:edgeconv_net", "--output",
                   str(folder / "cli"), "--no-progress"])
    assert rc == 0
    lines = (folder / "cli" / "summary.txt").read_text().splitlines()
    assert [c.strip() for c in lines[0].split("|")][:4] == ["Epoch", "LR", "train_loss",
                                                             "val_loss"]
    state = torch.load(folder / "cli" / "checkpoints" / "epoch_0001.pt", weights_only=False)
    assert state["model"]["heads.energy.weight"].shape[0] == 2   # mean and sigma


def test_edgeconv_net_rejects_images():
    with pytest.raises(ValueError, match="kind = 'points'"):
        edgeconv_net({"xy": (31, 20)}, {"dir": 3})
    assert isinstance(edgeconv_net({"p": (3,)}, {"dir": 3}), EdgeConvNet)
