"""A compiled Keras 3 model (the talk's case) trained by the organiser on the torch backend."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first keras import

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from km3flow.exceptions import ConfigError  # noqa: E402
from km3flow.ml import Organizer  # noqa: E402


def compiled_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input((31, 20), name="image")
    h = keras.layers.Flatten(name="flat")(inp)
    h = keras.layers.Dense(16, activation="relu", name="hidden")(h)
    model = keras.Model(inp, {"dir": keras.layers.Dense(3, name="dir")(h)})
    model.compile(optimizer="adam", loss="mse")
    return model


def organizer(folder, out):
    org = Organizer(folder / out, folder / "list.toml", folder / "config.toml")
    org.progress = False
    return org


def test_keras_runs_on_torch():
    assert keras.backend.backend() == "torch"
    assert isinstance(compiled_model(), torch.nn.Module)


def test_compiled_keras_model_trains_and_resumes_exactly(workdir):
    full = compiled_model()
    organizer(workdir, "full").train_and_validate(full)
    reference = organizer(workdir, "full").get_summary_data()
    assert len(reference) == 4 and np.isfinite(reference["train_loss"]).all()
    assert reference["train_loss"][-1] < reference["train_loss"][0]
    organizer(workdir, "resumed").train_and_validate(compiled_model(), epochs=1)
    resumed = compiled_model()
    org = organizer(workdir, "resumed")
    org.train_and_validate(resumed)
    np.testing.assert_array_equal(org.get_summary_data(), reference)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_non_torch_model_is_a_clear_error(workdir):
    with pytest.raises(ConfigError, match="needs a torch.nn.Module, got list"):
        organizer(workdir, "bad").train_and_validate([1, 2])
