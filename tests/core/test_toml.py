"""km3flow's one TOML loader (core/config.py: load_toml), used by pipelines and ml."""

import pytest

import km3flow as kp
from km3flow.core.config import load_toml
from km3flow.exceptions import ConfigError
from km3flow.ml.config import read_list_file


def test_a_key_given_twice_names_file_line_key_and_section(tmp_path):
    path = tmp_path / "pipe.toml"
    path.write_text("[AModule]\nfoo = 1\nbar = 2\nfoo = 3\n")
    with pytest.raises(ConfigError, match=r"pipe.toml: line 4: key 'foo' is given twice in "
                                          r"section \[AModule\] \(first on line 2\)$"):
        kp.Pipeline(configfile=path)


def test_same_messages_for_pipeline_and_training_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[section\nx = 1\n")
    missing = tmp_path / "no.toml"
    loaders = [(lambda p: kp.Pipeline(configfile=p), "configuration file"),
               (read_list_file, "list file")]
    for load, what in loaders:
        with pytest.raises(ConfigError, match=f"^{what} {bad}: invalid TOML: .*line 1"):
            load(bad)
        with pytest.raises(ConfigError, match=f"^{what} {missing} does not exist$"):
            load(missing)


def test_spaced_sections_only_where_asked(tmp_path):
    path = tmp_path / "list.toml"
    path.write_text("[input xy]\ntrain_files = ['a.h5']\n")
    assert load_toml(path, spaced_sections=True) == {"input xy": {"train_files": ["a.h5"]}}
    with pytest.raises(ConfigError, match="list.toml: invalid TOML"):
        load_toml(path)


def test_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b"[A]\nname = '\xe9'\n")
    with pytest.raises(ConfigError, match=r"latin.toml cannot be read: .*utf-8"):
        load_toml(path)
