"""Module parameters: declared ones (Parameter), KM3Pipe-style get/require, unknown ones."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

import km3flow as kp
from km3flow.core.config import REQUIRED, Parameter
from km3flow.exceptions import ConfigError, ParameterError


class Scaler(kp.Module):
    """A module declaring its parameters."""

    factor = Parameter(float, default=1.0, help="multiply by this")
    key = Parameter(str, help="the blob key to scale")
    mode = Parameter(str, default="mul", choices=("mul", "add"))
    limit = Parameter(int, default=None, help="an optional upper limit")

    def configure(self):
        # Declared values are there before configure runs.
        self.seen_in_configure = (self.factor, self.key, self.mode, self.limit)


def test_declared_parameters_are_attributes_before_configure():
    module = Scaler(key="x", factor=3, limit=np.int64(7))
    assert module.seen_in_configure == (3.0, "x", "mul", 7)
    assert type(module.factor) is float and type(module.limit) is int
    assert module.get("factor") == 3.0 and module.require("key") == "x"
    # A declared default wins over get()'s default argument.
    assert module.get("mode", default="add") == "mul"
    assert list(Scaler.declared_parameters) == ["factor", "key", "mode", "limit"]
    assert Scaler.factor.default == 1.0 and Scaler.key.default is REQUIRED


@pytest.mark.parametrize("params, message", [
    ({"key": 1}, "module 'Scaler': parameter 'key': expected str, got int 1"),
    ({"key": "x", "factor": "2"}, "parameter 'factor': expected float, got str '2'"),
    ({"key": "x", "limit": True}, "parameter 'limit': expected int, got bool True"),
    ({"key": "x", "limit": 2.5}, "parameter 'limit': expected int, got float 2.5"),
    ({"key": "x", "mode": "div"}, "parameter 'mode': must be one of 'mul', 'add', got 'div'"),
])
def test_bad_values_raise_one_parameter_error(params, message):
    with pytest.raises(ParameterError) as info:
        Scaler(**params)
    assert message in str(info.value)
    assert info.value.module == "Scaler" and info.value.parameter in params
    # Code catching the builtins keeps working.
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_check_function_converts_and_rejects():
    class Sink(kp.Module):
        filename = Parameter((str, os.PathLike), check=os.fspath)
        size = Parameter(int, default=8, check=lambda v: v if v > 0 else _fail("must be > 0"))

    from pathlib import Path

    assert Sink(filename=Path("a") / "b.h5").filename == os.path.join("a", "b.h5")
    with pytest.raises(ParameterError, match=r"module 'out' \(Sink\): parameter 'size': "
                                             r"must be > 0"):
        Sink(name="out", filename="x", size=0)


def _fail(reason):
    raise ValueError(reason)


def test_missing_required_parameter_uses_the_talks_message_and_suggests():
    with pytest.raises(ParameterError) as info:
        Scaler()
    assert str(info.value) == f"{Scaler} requires the parameter 'key'."
    with pytest.raises(ParameterError, match="requires the parameter 'key'. It got 'kye': "
                                             "misspelt?"):
        Scaler(kye="x")


def test_unknown_parameters_of_declared_modules_suggest_the_closest():
    with pytest.raises(ParameterError) as info:
        Scaler(key="x", factr=2, colour="red")
    assert str(info.value) == (
        "module 'Scaler' got the unknown parameters 'colour', 'factr' (did you mean "
        "'factor'?); it takes: factor, key, limit, mode")
    assert info.value.parameter == "colour"


def test_mixed_declared_and_km3pipe_style_parameters():
    class Mixed(kp.Module):
        threshold = Parameter(float, default=0.5)

        def configure(self):
            self.extra = self.get("extra", default=23)

    assert (Mixed(extra=1).extra, Mixed().extra, Mixed().threshold) == (1, 23, 0.5)
    with pytest.raises(ParameterError, match="'extr' \\(did you mean 'extra'\\?\\); it takes: "
                                             "extra, threshold"):
        Mixed(extr=1)


def test_opting_out_of_the_unknown_parameter_check():
    class Forwarder(kp.Module):
        strict_parameters = False

        def configure(self):
            self.forwarded = {k: v for k, v in self.parameters.items()}

    assert Forwarder(anything=1).forwarded == {"anything": 1}


def test_subclasses_inherit_and_replace_declarations():
    class Base(kp.Module):
        a = Parameter(int, default=1)
        b = Parameter(int, default=2)

    class Child(Base):
        b = 5  # no longer a parameter
        c = Parameter(str, default="c")

    assert list(Child.declared_parameters) == ["a", "c"]
    with pytest.raises(ParameterError, match="unknown parameter 'b'"):
        Child(b=3)


def test_reserved_names_cannot_be_declared():
    with pytest.raises(TypeError, match="declares the parameter 'name'"):
        class Bad(kp.Module):
            name = Parameter(str, default="x")
    with pytest.raises(TypeError, match="declares the parameter 'process'"):
        class Bad2(kp.Module):
            process = Parameter(int, default=1)


def test_parameter_errors_survive_pickling():
    err = ParameterError("bad", module="m", parameter="p")
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.module, back.parameter) == ("bad", "m", "p")


def test_describe_lists_declared_parameters():
    pipe = kp.Pipeline()
    pipe.attach(Scaler, key="x")
    text = pipe.describe()
    assert "declared parameters:" in text
    assert "factor: float, default 1.0 - multiply by this" in text
    assert "key: str, required - the blob key to scale" in text
    assert "mode: str, default 'mul', one of ['mul', 'add']" in text
    record = json.loads(pipe.describe(fmt="json"))["modules"][0]["declared"]
    assert record[0] == {"name": "factor", "type": "float", "required": False,
                         "help": "multiply by this", "default": 1.0}
    assert record[1] == {"name": "key", "type": "str", "required": True,
                         "help": "the blob key to scale"}


def test_toml_config_with_an_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text('[Scaler]\nkey = "x"\nfactr = 2.0\n')
    pipe = kp.Pipeline(configfile=path)
    with pytest.raises(ParameterError) as info:
        pipe.attach(Scaler)
    assert str(info.value).startswith(f"configuration file '{path}', section [Scaler]: "
                                      f"module 'Scaler' got the unknown parameter 'factr' "
                                      f"(did you mean 'factor'?)")
    path.write_text('[Scaler]\nkey = 3\n')
    with pytest.raises(ParameterError, match=r"section \[Scaler\]: .*'key': expected str"):
        kp.Pipeline(configfile=path).attach(Scaler)


def test_parameter_errors_not_from_the_file_are_left_alone(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text('[Scaler]\nfactor = 2.0\n')
    with pytest.raises(ParameterError) as info:
        kp.Pipeline(configfile=path).attach(Scaler, key="x", typo=1)
    assert str(info.value).startswith("module 'Scaler' got the unknown parameter 'typo'")
    assert not isinstance(info.value, ConfigError)


def test_builtin_modules_declare_their_parameters():
    from km3flow.io.hdf5.sink import HDF5Sink
    from km3flow.modules.common import Delete, Dump, Keep, ProgressBar, Siphon

    for cls in (Keep, Delete, Dump, Siphon, ProgressBar, HDF5Sink):
        assert cls.declared_parameters, cls
        assert all(p.help for p in cls.declared_parameters.values()), cls
    assert Keep(keys="a").keys == ("a",)
    with pytest.raises(ParameterError, match="'keys': blob keys must be strings"):
        Keep(keys=["a", 1])
    with pytest.raises(ParameterError, match="'volume': must be a positive integer, got 0"):
        Siphon(volume=0)
