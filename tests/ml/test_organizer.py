"""Tests of the training organiser on files binned from real MUPAGE events."""

from __future__ import annotations

import numpy as np
import pytest
import tables
import torch
from ml_files import TRAIN_CONFIG, read_xy, write_subset
from ml_helpers import InterruptingCNN, TwoInputNet

from km3flow.exceptions import ConfigError, FormatError
from km3flow.ml import Organizer
from km3flow.ml.models import SmallCNN
from km3flow.ml.training import TrainingError


def _model(cls=SmallCNN, **kw):
    torch.manual_seed(0)
    return cls((31, 20), {"dir": 3}, **kw)


def _organizer(folder, out="out", config="config.toml", **overrides):
    org = Organizer(folder / out, folder / "list.toml", folder / config, **overrides)
    org.progress = False
    return org


def test_train_writes_summary_logs_checkpoints_plots(workdir):
    (workdir / "config.toml").write_text(TRAIN_CONFIG.format(plot="true").replace(
        "validate_interval = 1", "validate_interval = 2"))
    org = _organizer(workdir)
    org.train_and_validate(_model())
    out = workdir / "out"
    lines = (out / "summary.txt").read_text().splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "Epoch", "LR", "train_loss", "val_loss", "train_mae", "val_mae"]
    assert set(lines[1]) == {"-", "+"}
    data = org.get_summary_data()
    assert data.dtype.names == ("Epoch", "LR", "train_loss", "val_loss", "train_mae",
                                "val_mae")
    np.testing.assert_allclose(data["Epoch"], [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(data["LR"], [0.003, 0.003, 0.0015, 0.0015])
    # validate_interval = 2: validation at every second summary line only
    assert np.isnan(data["val_loss"][[0, 2]]).all()
    assert np.isfinite(data["val_loss"][[1, 3]]).all()
    assert "nan" in lines[2]
    assert np.isfinite(data["train_loss"]).all() and np.isfinite(data["train_mae"]).all()
    log1 = (out / "train_log" / "epoch_0001.txt").read_text().splitlines()
    assert log1[0].split() == ["batch", "epoch", "loss", "mae", "lr"]
    assert len(log1) == 1 + 10  # 160 samples / 16
    assert [p.name for p in org.checkpoints()] == ["epoch_0001.pt", "epoch_0002.pt"]
    assert (out / "summary.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.rglob("*.tmp*"))
    # the first train_loss is the mean of the logged batch losses of the first half epoch
    first_half = [float(ln.split()[2]) for ln in log1[1:6]]
    assert data["train_loss"][0] == pytest.approx(np.mean(first_half), rel=1e-3)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_gives_the_numbers_of_an_uninterrupted_run(workdir):
    full = _model()
    _organizer(workdir, "full").train_and_validate(full)
    reference = _organizer(workdir, "full").get_summary_data()
    _organizer(workdir, "resumed").train_and_validate(_model(), epochs=1)
    resumed = _model()  # fresh weights: the checkpoint must bring back the trained ones
    org = _organizer(workdir, "resumed")
    org.train_and_validate(resumed)
    np.testing.assert_array_equal(org.get_summary_data(), reference)
    for k, v in _state(full).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    # nothing more to do: asking again trains no further epoch
    org.train_and_validate(_model())
    assert len(org.get_summary_data()) == 4


def test_interrupted_epoch_leaves_a_resumable_folder(workdir):
    full = _model()
    _organizer(workdir, "full").train_and_validate(full)
    reference = _organizer(workdir, "full").get_summary_data()
    with pytest.raises(KeyboardInterrupt):
        # 10 batches per epoch: interrupted in the middle of epoch 2, after a summary line
        _organizer(workdir, "cut").train_and_validate(_model(InterruptingCNN, stop_after=17))
    org = _organizer(workdir, "cut")
    assert org.latest_epoch() == 1
    assert len(org.get_summary_data()) == 3  # the half epoch's line is there …
    assert not (workdir / "cut" / "train_log" / "epoch_0002.txt").exists()
    model = _model()
    org.train_and_validate(model)
    np.testing.assert_array_equal(org.get_summary_data(), reference)  # … and redone
    for k, v in full.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_predict_writes_predictions_next_to_labels(workdir):
    org = _organizer(workdir, epochs=1)
    model = org.train_and_validate(_model())
    (path,) = org.predict()
    assert path.name == "pred_val.h5"
    with tables.open_file(str(path)) as h5:
        pred, y = h5.root.pred[:], h5.root.y[:]
        assert h5.root._v_attrs.format_version == b"5.1"
    assert pred.dtype.names == ("pred_dir_x", "pred_dir_y", "pred_dir_z", "group_id")
    assert len(pred) == len(y) == 48
    x, yval = read_xy(workdir / "val.h5")
    np.testing.assert_array_equal(y["energy"], yval["energy"])
    model.eval()
    with torch.no_grad():
        ref = model(torch.as_tensor(x[:3]))["dir"].numpy()
    np.testing.assert_allclose(pred["pred_dir_x"][:3], ref[:, 0], rtol=1e-5)
    # the same again through a fresh model and the saved checkpoint
    (again,) = Organizer(workdir / "out", workdir / "list.toml", workdir / "config.toml") \
        .predict([workdir / "val.h5"], model=_model(), epoch=-1)
    with tables.open_file(str(again)) as h5:
        np.testing.assert_allclose(h5.root.pred[:]["pred_dir_y"], pred["pred_dir_y"], rtol=1e-5)


def test_classification_with_label_modifier_reports_acc(workdir):
    (workdir / "config.toml").write_text(
        "[training]\nbatch_size = 32\nepochs = 1\nplot = false\n"
        "[modifiers]\nlabel = 'ml_helpers:high_energy'\n"
        "[outputs.he]\nlabels = ['energy']\nloss = 'bce'\nmetrics = ['accuracy']\n")
    org = _organizer(workdir)
    torch.manual_seed(0)
    org.train_and_validate(SmallCNN((31, 20), {"he": 1}))
    data = org.get_summary_data()
    assert data.dtype.names[-2:] == ("train_acc", "val_acc")
    assert 0.0 <= data["val_acc"][0] <= 1.0


def test_two_inputs_joined_by_event(workdir):
    x, y = read_xy(workdir / "train.h5")
    write_subset(workdir / "train_b.h5", x[:, ::-1].copy(), y)
    xv, yv = read_xy(workdir / "val.h5")
    write_subset(workdir / "val_b.h5", xv[:, ::-1].copy(), yv)
    (workdir / "list.toml").write_text(
        "[input a]\ntrain_files = ['train.h5']\nvalidation_files = ['val.h5']\n"
        "[input b]\ntrain_files = ['train_b.h5']\nvalidation_files = ['val_b.h5']\n")
    org = _organizer(workdir, epochs=1)
    torch.manual_seed(0)
    org.train_and_validate(TwoInputNet((31, 20)))
    assert np.isfinite(org.get_summary_data()["val_loss"]).all()


def test_dry_run_catches_wrong_output_shape(workdir):
    torch.manual_seed(0)
    with pytest.raises(TrainingError, match=r"output 'dir'.*\(4, 2\).*\(4, 3\)"):
        _organizer(workdir).train_and_validate(SmallCNN((31, 20), {"dir": 2}))
    assert not (workdir / "out" / "checkpoints").exists()


def test_dry_run_catches_model_failing_on_input_shape(workdir):
    torch.manual_seed(0)
    with pytest.raises(TrainingError, match=r"fails on the first batch.*\(31, 20\)"):
        _organizer(workdir).train_and_validate(torch.nn.Linear(7, 3))


def test_missing_label_column_names_file(workdir):
    (workdir / "config.toml").write_text(
        TRAIN_CONFIG.format(plot="false").replace('"dir_z"]', '"dir_q"]'))
    with pytest.raises(FormatError, match=r"train.h5.*dir_q"):
        _organizer(workdir).train_and_validate(_model())


def test_nan_input_found_at_start_up(workdir):
    x, y = read_xy(workdir / "train.h5")
    x = x.astype(np.float32)  # the binned counts are uint8
    x[1, 3, 4] = np.nan
    write_subset(workdir / "train.h5", x, y)
    with pytest.raises(FormatError, match=r"train.h5.*input 'xy' holds NaN"):
        _organizer(workdir).train_and_validate(_model())


def test_nan_later_in_training_names_file_and_rows(workdir):
    x, y = read_xy(workdir / "train.h5")
    y["dir_y"][100] = np.nan
    write_subset(workdir / "train.h5", x, y)
    with pytest.raises(TrainingError, match=r"loss is nan.*train.h5 rows.*label 'dir_y'"):
        _organizer(workdir).train_and_validate(_model())


def test_empty_training_file(workdir):
    with tables.open_file(str(workdir / "train.h5"), "w") as h5:
        h5.create_earray("/", "x", atom=tables.Float32Atom(), shape=(0, 31, 20))
    with pytest.raises(FormatError, match=r"train.h5.*empty"):
        _organizer(workdir).train_and_validate(_model())


def test_non_torch_model_is_refused(workdir):
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        _organizer(workdir).train_and_validate(object())


def test_unknown_training_keyword(workdir):
    with pytest.raises(ConfigError, match="unknown key 'training.epoch'.*epochs"):
        _organizer(workdir, epoch=3)


def test_sgd_with_per_batch_step_schedule(workdir):
    (workdir / "config.toml").write_text(
        TRAIN_CONFIG.format(plot="false")
        .replace('name = "adam"', 'name = "sgd"\nmomentum = 0.9')
        .replace('name = "exponential"\ngamma = 0.5',
                 'name = "step"\nstep_size = 5\ngamma = 0.1\ninterval = "batch"'))
    org = _organizer(workdir, epochs=1)
    org.train_and_validate(_model())
    # 10 batches, lr × 0.1 after every 5: the LR at the two summary points (after batch 5, 10)
    np.testing.assert_allclose(org.get_summary_data()["LR"], [0.0003, 0.00003])


def test_cuda_device_without_cuda_is_a_config_error(workdir):
    if torch.cuda.is_available():  # the lead's GPU machine: then cuda must simply work
        org = _organizer(workdir, device="cuda", epochs=1)
        model = org.train_and_validate(_model())
        assert next(model.parameters()).device.type == "cuda"
    else:
        with pytest.raises(ConfigError, match="device = 'cuda' but torch sees no CUDA"):
            _organizer(workdir, device="cuda").train_and_validate(_model())
