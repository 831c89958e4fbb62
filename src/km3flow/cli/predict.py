"""``km3flow predict RUN FILE… [--epoch N]``: a trained model's predictions for whole files.

The model is rebuilt from the run folder (``run.json`` written by ``km3flow train``; see
:mod:`km3flow.ml.runinfo`) and gets the weights of ``checkpoints/epoch_N.pt`` (default:
the latest). Every file is read batch by batch and written to
``RUN/predictions/epoch_NNNN/pred_<file name>`` (or ``-o DIR``): the labels ``/y`` (when
the file has them) and ``/pred`` (``pred_<label column>`` per output) with the same
``group_id``, in the KM3Pipe layout. ``--set test`` (or ``validation``, ``train``) predicts
the files of that set of the run's list file instead of FILEs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="output folder of a training (km3flow train --output)")
    parser.add_argument("files", nargs="*", help="training files to predict (single-input "
                                                 "models; or use --set)")
    parser.add_argument("--set", choices=("train", "validation", "test"), dest="which",
                        help="predict the files of this set of the run's list file")
    parser.add_argument("--epoch", type=int, default=None,
                        help="the checkpoint's epoch (default: the latest)")
    parser.add_argument("-o", "--output-dir",
                        help="folder of the prediction files (default "
                             "RUN/predictions/epoch_NNNN)")
    parser.add_argument("--model", help="model factory module:callable (default: the run's)")
    parser.add_argument("--config", help="training config TOML (default: the run's copy)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="events per forward pass (default: the config's batch_size)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace prediction files that exist")


def run(args: argparse.Namespace) -> int:
    from ..exceptions import ConfigError
    from ..logger import say
    from ..ml.config import InputFiles, read_list_file
    from ..ml.h5events import check_output
    from ..ml.organizer import Organizer
    from ..ml.runinfo import read_run_info
    from .train import build_model

    if bool(args.files) == bool(args.which):
        raise ConfigError("give either FILEs or --set (train, validation, test)")
    folder = Path(args.run)
    info = read_run_info(folder) if args.model is None or args.config is None else {}
    spec = args.model or info["model"]
    config = args.config or info.get("config")
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    if args.which:
        if not info.get("list_file"):
            raise ConfigError(f"{folder}: no list file recorded; give FILEs")
        inputs = read_list_file(info["list_file"])
        files = {n: getattr(i, f"{args.which}_files") for n, i in inputs.items()}
        if not any(files.values()):
            raise ConfigError(f"{info['list_file']}: no {args.which}_files")
    else:
        names = info.get("inputs") or ["xy"]
        if len(names) != 1:
            raise ConfigError(f"the model has the inputs {names}: use --set with a list file")
        files = {names[0]: [Path(f) for f in args.files]}
        # as train_files, so that the shapes can be read for a factory given by --model
        inputs = {names[0]: InputFiles(names[0], files[names[0]], [])}
    organizer = Organizer(folder, inputs, config, **overrides)
    epochs = [int(p.stem.split("_")[1]) for p in organizer.checkpoints()]
    if not epochs:
        raise ConfigError(f"{folder}: no checkpoints/epoch_*.pt to take the weights from")
    epoch = epochs[-1] if args.epoch is None else args.epoch
    if epoch not in epochs:
        raise ConfigError(f"{folder}: no checkpoint of epoch {epoch}; there are "
                          f"{', '.join(map(str, epochs))}")
    out_dir = Path(args.output_dir) if args.output_dir else \
        folder / "predictions" / f"epoch_{epoch:04d}"
    first = next(iter(files.values()))
    targets = [out_dir / f"pred_{Path(f).name}" for f in first]
    if len(set(targets)) != len(targets):
        raise ConfigError("two input files have the same name; their predictions would "
                          "overwrite each other (predict them into different -o folders)")
    for t in targets:
        check_output(t, args.overwrite, first)
    kwargs = info.get("model_kwargs") if args.model is None else None
    model = build_model(spec, organizer, kwargs)  # None: shapes read from the files
    written = organizer.predict(files, model=model, epoch=epoch, output_dir=out_dir)
    for path in written:
        say(f"predictions (epoch {epoch}): {path}")
    return 0
