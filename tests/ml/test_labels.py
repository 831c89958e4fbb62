"""Label modifiers, losses and metrics of the training config, on real MC labels."""

from __future__ import annotations

import numpy as np
import pytest
import tables
import torch
from ml_files import read_xy, write_subset

from km3flow.exceptions import ConfigError
from km3flow.ml import Organizer
from km3flow.ml.config import read_config
from km3flow.ml.models import SmallCNN
from km3flow.ml.training import (
    TrainingError,
    default_labels,
    gaussian_nll,
    make_loss,
    make_metric,
)

CLASS_CONFIG = """
[training]
batch_size = 16
epochs = 2
seed = 5
summaries_per_epoch = 1
block_batches = 2
plot = false
[outputs.sign]
loss = "cross_entropy"
target = "{target}"
class_weights = [1.0, 2.0]
metrics = ["accuracy", "auc"]
[[outputs.sign.classes]]
name = "mu_minus"
type = [13]
is_cc = 1
[[outputs.sign.classes]]
name = "other"
"""


def _config(tmp_path, text, name="config.toml"):
    (tmp_path / name).write_text(text)
    return read_config(tmp_path / name)


@pytest.fixture(scope="module")
def labels(binned):
    """The label table of the 500 binned muons (direction, energy, event_id, run_id)."""
    return read_xy(binned)[1]


def test_log10_and_derived_direction_labels(tmp_path, labels):
    cfg = _config(tmp_path, """
[outputs.energy]
labels = ["energy"]
transform = "log10"
loss = "gaussian_nll"
[outputs.angles]
labels = ["cos_zenith", "zenith", "azimuth"]
""")
    assert cfg.outputs["energy"].size == 2 and cfg.outputs["angles"].size == 3
    assert cfg.outputs["angles"].source_columns() == ["dir_x", "dir_y", "dir_z"]
    y = default_labels(labels, cfg.outputs)
    np.testing.assert_allclose(y["energy"][:, 0], np.log10(labels["energy"]), rtol=1e-6)
    cosz, zen, azi = y["angles"].T
    np.testing.assert_allclose(cosz, -labels["dir_z"], rtol=1e-6)
    np.testing.assert_allclose(np.cos(zen), cosz, atol=1e-6)
    # the azimuth points to where the muon comes from
    np.testing.assert_allclose(np.cos(azi) * np.sin(zen), -labels["dir_x"], atol=1e-4)
    assert np.all((azi >= 0) & (azi < 2 * np.pi))
    bad = labels.copy()
    bad["energy"][7] = 0.0
    with pytest.raises(TrainingError, match="'energy'.*is 0.0 at event 7.*log10"):
        default_labels(bad, cfg.outputs, "f.h5 rows 0..9")


def test_classes_from_type_and_is_cc_index_or_one_hot(tmp_path, labels):
    with tables.open_file(str(_source(tmp_path))) as h5:
        tracks = h5.root.mc_tracks.read()
    first = np.searchsorted(tracks["group_id"], np.arange(500))
    y = np.zeros(500, dtype=[("type", "i8"), ("is_cc", "i8")])
    y["type"], y["is_cc"] = tracks["type"][first], tracks["is_cc"][first]
    rng = np.random.default_rng(1)
    y["type"][rng.random(500) < 0.3] = 13      # mutated copy: some negative muons
    idx_cfg = _config(tmp_path, CLASS_CONFIG.format(target="index"))
    out = idx_cfg.outputs["sign"]
    assert out.size == 2 and out.labels == ["is_cc", "type"]
    index = default_labels(y, idx_cfg.outputs)["sign"]
    np.testing.assert_array_equal(index, np.where(y["type"] == 13, 0, 1))
    hot_cfg = _config(tmp_path, CLASS_CONFIG.format(target="one_hot"), "hot.toml")
    hot = default_labels(y, hot_cfg.outputs)["sign"]
    np.testing.assert_array_equal(hot.argmax(1), index)
    assert hot.dtype == np.float32 and hot.sum(1).tolist() == [1.0] * 500
    # class weights enter the loss: the same logits, heavier class-1 errors
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.1]])
    target = torch.tensor([1, 0])
    weighted = make_loss(out)(logits, target)
    expected = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor([1., 2.]))
    torch.testing.assert_close(weighted, expected)
    torch.testing.assert_close(make_loss(hot_cfg.outputs["sign"])(logits, torch.eye(2)[target]),
                               expected)
    # an event in no class is an error naming it
    strict = _config(tmp_path, CLASS_CONFIG.format(target="index").replace(
        '[[outputs.sign.classes]]\nname = "other"',
        '[[outputs.sign.classes]]\nname = "mu_plus"\ntype = -13'), "strict.toml")
    y["type"][4] = 11
    with pytest.raises(TrainingError, match="event 4 of the batch.*type=11.*'sign'"):
        default_labels(y, strict.outputs)


def _source(tmp_path):
    from km3net_testdata import data_path

    return data_path("hdf5/atmospheric_muons_sample.h5")


def test_gaussian_nll_pull_resolution_auc(tmp_path):
    cfg = _config(tmp_path, """
[outputs.e]
labels = ["energy"]
loss = "gaussian_nll"
metrics = ["pull", "resolution", "mae"]
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
metrics = ["resolution"]
[outputs.c]
labels = ["flag"]
loss = "bce"
metrics = ["auc", "accuracy"]
""")
    e = cfg.outputs["e"]
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(2000, 1, generator=gen) * 2.0 + 1.0
    raw_sigma = torch.full((2000, 1), float(np.log(np.expm1(2.0 - 1e-3))))  # softplus -> 2
    pred = torch.cat([torch.full((2000, 1), 1.0), raw_sigma], dim=1)
    nll = make_loss(e)(pred, target)
    ref = torch.nn.GaussianNLLLoss(full=True)(pred[:, :1], target, torch.full((2000, 1), 4.0))
    torch.testing.assert_close(nll, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gaussian_nll(pred[:, :1], torch.full((2000, 1), 2.0), target), ref,
                               rtol=1e-4, atol=1e-4)
    assert make_metric("pull", e)(pred, target) == pytest.approx(1.0, abs=0.05)
    res = make_metric("resolution", e)(pred, target)
    assert res == pytest.approx(float(np.quantile(np.abs(target.numpy() - 1.0), 0.68)), rel=1e-3)
    assert getattr(make_metric("resolution", e), "pooled", False)
    assert make_metric("mae", e)(pred, target) == pytest.approx(
        float((target - 1.0).abs().mean()), rel=1e-5)
    with pytest.raises(TrainingError, match="gaussian_nll needs the model to give"):
        make_loss(e)(pred[:, :1], target)
    # space angle: a 10 degree tilt is a 10 degree resolution
    a = np.deg2rad(10.0)
    t = torch.tensor([[0.0, 0.0, 1.0]] * 5)
    p = torch.tensor([[np.sin(a), 0.0, np.cos(a)]] * 5, dtype=torch.float32) * 3.0
    assert make_metric("resolution", cfg.outputs["dir"])(p, t) == pytest.approx(10.0, rel=1e-4)
    # AUC: the fraction of (positive, negative) pairs in the right order
    score = torch.randn(300, 1, generator=gen)
    flag = (score + torch.randn(300, 1, generator=gen) > 0).float()
    s, f = score.numpy().ravel(), flag.numpy().ravel() > 0.5
    pairs = (s[f][:, None] > s[~f][None, :]).mean()
    assert make_metric("auc", cfg.outputs["c"])(score, flag) == pytest.approx(pairs, rel=1e-9)


def test_label_config_errors_name_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match="outputs.e.transform = 'log'"):
        _config(tmp_path, '[outputs.e]\nlabels = ["energy"]\ntransform = "log"\n')
    with pytest.raises(ConfigError, match="'pull' needs loss = 'gaussian_nll'"):
        _config(tmp_path, '[outputs.e]\nlabels = ["energy"]\nmetrics = ["pull"]\n')
    with pytest.raises(ConfigError, match="class_weights must be 2"):
        _config(tmp_path, CLASS_CONFIG.format(target="index").replace("[1.0, 2.0]", "[1.0]"))
    with pytest.raises(ConfigError, match="config.toml: outputs.sign: loss 'bce' needs "
                                          "target = 'one_hot'"):
        _config(tmp_path, CLASS_CONFIG.format(target="index").replace(
            '"cross_entropy"', '"bce"'))


def test_classifier_training_writes_accuracy_and_auc(workdir, binned):
    """A tiny real training: mu- vs other, on a mutated copy of the sample's labels."""
    x, y = read_xy(binned)
    y = y.copy()
    big = y["energy"] > np.median(y["energy"])    # learnable: brighter events are 'mu-'
    sign = np.where(big, 13, -13)
    labels = np.zeros(len(y), dtype=y.dtype.descr + [("type", "i8"), ("is_cc", "i8")])
    for c in y.dtype.names:
        labels[c] = y[c]
    labels["type"], labels["is_cc"] = sign, 1
    write_subset(workdir / "train.h5", x[:160], labels[:160])
    write_subset(workdir / "val.h5", x[400:448], labels[400:448])
    (workdir / "config.toml").write_text(CLASS_CONFIG.format(target="index"))
    org = Organizer(workdir / "out", workdir / "list.toml", workdir / "config.toml")
    org.progress = False
    torch.manual_seed(0)
    org.train_and_validate(SmallCNN((31, 20), {"sign": 2}))
    lines = (workdir / "out" / "summary.txt").read_text().splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "Epoch", "LR", "train_loss", "val_loss", "train_acc", "val_acc", "train_auc", "val_auc"]
    data = org.get_summary_data()
    assert np.all((data["val_acc"] >= 0) & (data["val_acc"] <= 1))
    assert np.all((data["val_auc"] >= 0) & (data["val_auc"] <= 1))
    # the pooled AUC of the validation equals the AUC of the model's final predictions
    model = org.model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x[400:448]).float())["sign"]
    score = (logits[:, 1] - logits[:, 0]).numpy()
    positive = labels["type"][400:448] != 13   # class 1 is 'other'
    pairs = (score[positive][:, None] > score[~positive][None, :]).mean()
    assert data["val_auc"][-1] == pytest.approx(pairs, abs=1e-4)   # 4 digits in summary.txt
