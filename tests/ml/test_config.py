"""Tests of km3flow.ml.config: list file and training config TOML."""

from __future__ import annotations

import pytest

from km3flow.exceptions import ConfigError
from km3flow.ml.config import load_callable, read_config, read_list_file


def _touch(folder, *names):
    for n in names:
        (folder / n).write_bytes(b"")


def test_talk_list_file_format_is_accepted(tmp_path):
    _touch(tmp_path, "xy_1.h5", "xy_v.h5", "yz_1.h5", "yz_v.h5")
    (tmp_path / "list.toml").write_text(
        "[input xy]\ntrain_files = ['xy_1.h5']\nvalidation_files = ['xy_v.h5']\n\n"
        "[input yz]\ntrain_files = ['yz_1.h5']\nvalidation_files = ['yz_v.h5']\n")
    inputs = read_list_file(tmp_path / "list.toml")
    assert list(inputs) == ["xy", "yz"]
    assert inputs["yz"].validation_files == [tmp_path / "yz_v.h5"]


def test_talk_typo_duplicate_train_files_is_a_clear_error(tmp_path):
    _touch(tmp_path, "a.h5")
    (tmp_path / "list.toml").write_text(
        "[input xy]\ntrain_files = ['a.h5']\ntrain_files = ['a.h5']\n")
    with pytest.raises(ConfigError, match=r"line 3: key 'train_files' is given twice.*"
                                          r"validation_files"):
        read_list_file(tmp_path / "list.toml")


@pytest.mark.parametrize("body, match", [
    ("[input xy]\ntrain_files = ['missing.h5']\n", "missing.h5 does not exist"),
    ("[input xy]\ntrain_file = ['a.h5']\n", "unknown key 'input xy.train_file'.*train_files"),
    ("[input xy]\nvalidation_files = ['a.h5']\n", "no train_files"),
    ("[input xy]\ntrain_files = ['a.h5']\n[input yz]\ntrain_files = ['a.h5', 'a.h5']\n",
     "different numbers of files"),
    ("[input xy\n", "invalid TOML"),
])
def test_list_file_errors(tmp_path, body, match):
    _touch(tmp_path, "a.h5")
    (tmp_path / "list.toml").write_text(body)
    with pytest.raises(ConfigError, match=match):
        read_list_file(tmp_path / "list.toml")


@pytest.mark.parametrize("body, match", [
    ("[training]\nbach_size = 3\n", "unknown key 'training.bach_size'.*batch_size"),
    ("[training]\nbatch_size = 'big'\n", "training.batch_size must be an integer"),
    ("[optimiser]\nname = 'adam'\n", "unknown key 'optimiser'.*optimizer"),
    ("[outputs.dir]\nloss = 'msq'\n", "outputs.dir.loss = 'msq' is unknown"),
    ("[outputs.dir]\nmetrics = ['f1']\n", "metrics = 'f1' is unknown"),
    ("[training]\nbatch_size = 4\n", "no \\[outputs.NAME\\]"),
    ("[modifiers]\nlabel = 'km3flow.ml.binning:nothing'\n", "has no attribute 'nothing'"),
    ("[schedule]\nname = 'step'\ninterval = 'hour'\n[outputs.a]\n", "schedule.interval"),
])
def test_config_errors_name_the_key(tmp_path, body, match):
    (tmp_path / "c.toml").write_text(body)
    with pytest.raises(ConfigError, match=match) as err:
        read_config(tmp_path / "c.toml")
    assert "c.toml" in str(err.value)


def test_config_values_and_overrides(tmp_path):
    (tmp_path / "c.toml").write_text(
        "[training]\nbatch_size = 8\ndevice = 'cuda'\n[optimizer]\nname='sgd'\nlr=0.1\n"
        "momentum=0.9\n[outputs.dir]\nlabels=['dir_x','dir_y']\nmetrics='mae'\n")
    cfg = read_config(tmp_path / "c.toml", {"epochs": 5})
    assert (cfg.batch_size, cfg.epochs, cfg.device, cfg.lr) == (8, 5, "cuda", 0.1)
    assert cfg.outputs["dir"].labels == ["dir_x", "dir_y"]
    assert cfg.outputs["dir"].metrics == ["mae"]
    assert load_callable("km3flow.ml.binning:bin_hits").__name__ == "bin_hits"
