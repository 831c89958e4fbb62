"""``km3flow train LIST.toml CONFIG.toml --model module:factory --output DIR``.

The factory is called with the keyword arguments it accepts among ``input_shapes``
(``{input: image shape}``), ``output_sizes`` (``{output: number of values}``: label columns,
classes, or twice the columns for a Gaussian likelihood) and ``input_columns``
and must return a ``torch.nn.Module``. ``--nproc N`` trains with N processes (DDP).
The factory, its arguments and a copy of the config are recorded in the output folder
(``run.json``, ``run_config.toml``) for ``km3flow predict``.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("list_file", help="input list TOML ([input NAME] sections)")
    parser.add_argument("config", help="training config TOML")
    parser.add_argument("--model", required=True, help="model factory as module:callable")
    parser.add_argument("--output", required=True, help="output folder (resumed if it exists)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train until this many epochs are done (default: the config's)")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes for distributed data-parallel training (default 1)")
    parser.add_argument("--predict", action="store_true",
                        help="write predictions for the validation files afterwards")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def model_kwargs(organizer: Any) -> dict[str, Any]:
    """The arguments offered to the model factory: input shapes, output sizes and, for point
    clouds, the input columns (``{input: point column names}``, None for images)."""
    train = organizer.input_set("train")
    return {"input_shapes": train.sample_shapes,
            "output_sizes": {n: o.size for n, o in organizer.cfg.outputs.items()},
            "input_columns": train.columns}


def accepted_kwargs(spec: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments among ``kwargs`` that the ``module:factory`` takes."""
    from ..ml.config import load_callable

    params = inspect.signature(load_callable(spec, "--model")).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def build_model(spec: str, organizer: Any, kwargs: dict[str, Any] | None = None) -> Any:
    """Call the ``module:factory`` with the arguments of :func:`model_kwargs` it asks for."""
    from ..ml.config import load_callable

    kwargs = model_kwargs(organizer) if kwargs is None else kwargs
    return load_callable(spec, "--model")(**accepted_kwargs(spec, kwargs))


def train(rank: int, args: argparse.Namespace) -> None:
    """Train in this process (rank ``rank`` of a distributed run, or the only one)."""
    from ..logger import say
    from ..ml.organizer import Organizer

    organizer = Organizer(args.output, args.list_file, args.config)
    organizer.progress = not args.no_progress
    from ..ml.runinfo import check_run_model, write_run_info

    check_run_model(args.output, args.model)
    kwargs = accepted_kwargs(args.model, model_kwargs(organizer))  # recorded as called
    model = build_model(args.model, organizer, kwargs)
    if rank == 0:
        # what 'km3flow predict' needs to rebuild the model (see km3flow.ml.runinfo)
        write_run_info(args.output, args.model, kwargs, list(organizer.inputs),
                       args.list_file, args.config)
    organizer.train_and_validate(model, epochs=args.epochs)
    if rank == 0:
        summary = organizer.get_summary_data()
        if len(summary):
            last = summary[-1]
            say(f"epoch {last['Epoch']:.4g}: train_loss {last['train_loss']:.4g}, "
                  f"val_loss {last['val_loss']:.4g}; summary in "
                  f"{Path(args.output) / 'summary.txt'}")
        if args.predict:
            for path in organizer.predict():
                say(f"predictions: {path}")


def run(args: argparse.Namespace) -> int:
    if args.nproc > 1:
        from ..ml.ddp import run_distributed

        run_distributed(train, args.nproc, args=(args,))
    else:
        train(0, args)
    return 0
