"""Deep learning for KM3NeT data: binning hits into images and the training organiser.

- ``km3flow.ml.binning``: :class:`ImageBinner` (pipeline module) and :func:`bin_hits`
- ``km3flow.ml.points``: point clouds for graph networks, :class:`PointCloudMaker` (pipeline
  module) and :func:`select_points`
- ``km3flow.ml.h5layout``: training files in the KM3Pipe HDF5 layout (writer, event reader)
- ``km3flow.ml.dataset``: chunked, shuffled, multi-input batches from training files
- ``km3flow.ml.config``: the TOML list file and training config
- ``km3flow.ml.organizer``: :class:`Organizer` (train, validate, log, plot, resume, predict)
- ``km3flow.ml.ddp``: running a training in several processes with ``torch.distributed``
- data tools: :func:`split_files` (``km3flow.ml.split``), :func:`shuffle_file`
  (``km3flow.ml.shuffle``), :func:`concat_files` (``km3flow.ml.concat``), all on
  ``km3flow.ml.h5events`` (event-wise copying of KM3Pipe-layout files)
- ``km3flow.ml.compare``: :func:`plot_runs`, several trainings in one figure;
  ``km3flow.ml.runinfo``: how a run folder rebuilds its model for ``km3flow predict``

Importing ``km3flow.ml`` does not import torch or matplotlib; they load when training starts.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_LAZY = {
    "Dimension": "km3flow.ml.binning",
    "ImageBinner": "km3flow.ml.binning",
    "bin_hits": "km3flow.ml.binning",
    "geometry_dimension": "km3flow.ml.binning",
    "PointCloudMaker": "km3flow.ml.points",
    "select_points": "km3flow.ml.points",
    "pad_points": "km3flow.ml.dataset",
    "TrainingFileWriter": "km3flow.ml.h5layout",
    "EventSource": "km3flow.ml.h5layout",
    "TrainingFile": "km3flow.ml.dataset",
    "InputSet": "km3flow.ml.dataset",
    "BatchReader": "km3flow.ml.dataset",
    "read_list_file": "km3flow.ml.config",
    "read_config": "km3flow.ml.config",
    "TrainingConfig": "km3flow.ml.config",
    "Organizer": "km3flow.ml.organizer",
    "run_distributed": "km3flow.ml.ddp",
    "split_files": "km3flow.ml.split",
    "shuffle_file": "km3flow.ml.shuffle",
    "concat_files": "km3flow.ml.concat",
    "plot_runs": "km3flow.ml.compare",
}

__all__ = list(sorted(_LAZY))


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
