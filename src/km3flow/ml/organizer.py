"""The training organiser (OrcaNet's role) on PyTorch.

::

    from km3flow.ml import Organizer
    organizer = Organizer("path/to/output", "list.toml", "config.toml")
    organizer.train_and_validate(model)        # a torch.nn.Module or a Keras 3 model (torch)
    organizer.get_summary_data()               # structured array of summary.txt

The output folder holds ``summary.txt`` (one line per summary point, fractional epochs,
``nan`` where no validation ran), ``summary.pdf``/``summary.png``, per-batch logs
``train_log/epoch_NNNN.txt`` and ``checkpoints/epoch_NNNN.pt`` (model, optimiser, schedule,
RNG states and the summary rows). Running again on the same folder resumes from the latest
checkpoint and gives the numbers an uninterrupted run would have given. Every file is
written to a temporary name and renamed.

Image inputs reach the model as float32 tensors; point-cloud inputs (files written with
``binning.kind = "points"``) as ``{"points": (B, N, F), "mask": (B, N)}``, zero-padded to
the largest event of the batch (see :func:`km3flow.ml.models.edgeconv_net`).

Under ``torch.distributed`` (see :mod:`km3flow.ml.ddp`) the model is wrapped in
DistributedDataParallel, the blocks of the training files are shared out between the
ranks, losses are averaged over all ranks and only rank 0 writes files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import import_optional
from ..exceptions import ConfigError, FormatError
from ..logger import get_logger
from .config import InputFiles, TrainingConfig, load_callable, read_config, read_list_file
from .dataset import Batch, BatchReader, InputSet
from .summary import format_summary, parse_summary, plot_summary, write_atomic

log = get_logger("Organizer")


class Organizer:
    """Train, validate, log, plot and continue trainings of a PyTorch model.

    Parameters
    ----------
    output_folder
        Where summaries, logs, plots and checkpoints go (created when missing).
    list_file
        TOML input list (``[input NAME]`` sections with ``train_files`` and
        ``validation_files``), or its content ``{name: InputFiles}`` (prediction only).
    config_file
        Training config TOML (see :mod:`km3flow.ml.config`); None uses the defaults.
    **overrides
        ``[training]`` keys that replace those of the config (e.g. ``epochs=3``).

    Raises
    ------
    ConfigError
        Bad list or config file (names the file and key).
    FormatError
        A listed file is not a usable training file.
    """

    def __init__(self, output_folder: str | os.PathLike,
                 list_file: str | os.PathLike | Mapping[str, InputFiles],
                 config_file: str | os.PathLike | None = None, **overrides: Any) -> None:
        self.output_folder = Path(output_folder)
        self.inputs = (dict(list_file) if isinstance(list_file, Mapping)
                       else read_list_file(list_file))
        self.cfg: TrainingConfig = read_config(config_file, overrides)
        self.label_modifier = (load_callable(self.cfg.label_modifier, "modifiers.label")
                               if self.cfg.label_modifier else None)
        self.sample_modifier = (load_callable(self.cfg.sample_modifier, "modifiers.sample")
                                if self.cfg.sample_modifier else None)
        self.model: Any = None
        self.progress = True

    # -- files ----------------------------------------------------------------------------
    @property
    def summary_path(self) -> Path:
        """``summary.txt`` in the output folder."""
        return self.output_folder / "summary.txt"

    @property
    def checkpoint_folder(self) -> Path:
        """The folder of the checkpoints, ``checkpoints/`` in the output folder."""
        return self.output_folder / "checkpoints"

    def checkpoints(self) -> list[Path]:
        """The saved checkpoints, oldest first."""
        if not self.checkpoint_folder.is_dir():
            return []
        return sorted(self.checkpoint_folder.glob("epoch_*.pt"))

    def latest_epoch(self) -> int:
        """Number of epochs completed and saved in the output folder (0 when none)."""
        cps = self.checkpoints()
        return int(cps[-1].stem.split("_")[1]) if cps else 0

    def get_summary_data(self) -> np.ndarray:
        """The summary as a structured array (fields ``Epoch``, ``LR``, ``train_loss``, …).

        Raises
        ------
        FileNotFoundError
            When no training has written a summary yet.
        """
        return parse_summary(self.summary_path)

    def input_set(self, which: str) -> InputSet | None:
        """The joined files of ``"train"`` or ``"validation"`` (None when none are listed)."""
        key = f"{which}_files"
        files = {n: getattr(i, key) for n, i in self.inputs.items()}
        if not any(files.values()):
            return None
        return InputSet(files, self.cfg.x_loc, self.cfg.y_loc)

    # -- data → tensors -------------------------------------------------------------------
    def _labels(self, batch: Batch) -> dict[str, np.ndarray]:
        from .training import default_labels

        if self.label_modifier is not None:
            return dict(self.label_modifier(batch.y))
        assert batch.y is not None  # training batches are read with their labels
        return default_labels(batch.y, self.cfg.outputs, batch.where())

    def _tensors(self, batch: Batch, device: Any, with_labels: bool = True) -> tuple[Any, Any]:
        torch = import_optional("torch", extra="ml")
        from .torchdata import to_tensor
        from .training import label_dtype

        xs: Any = batch.x
        if batch.mask:
            # point clouds reach the model as {"points": (B, N, F), "mask": (B, N)}
            xs = {k: ({"points": v, "mask": batch.mask[k]} if k in batch.mask else v)
                  for k, v in xs.items()}
        if self.sample_modifier is not None:
            xs = self.sample_modifier(xs)
        elif len(xs) == 1:
            xs = next(iter(xs.values()))
        x = _to_device(torch, xs, device)
        if not with_labels:
            return x, None
        ys = self._labels(batch)
        outs = self.cfg.outputs
        y = {k: to_tensor(v, device, label_dtype(outs[k]) if k in outs else None)
             for k, v in ys.items()}
        return x, y

    def _losses(self, pred: Any, y: Mapping[str, Any], where: str) -> tuple[Any, dict]:
        from .training import TrainingError

        if not isinstance(pred, Mapping):
            if len(self._loss_fns) != 1:
                raise TrainingError(f"the model returned one tensor but the config has the "
                                    f"outputs {list(self._loss_fns)}: return a dict")
            pred = {next(iter(self._loss_fns)): pred}
        total: Any = 0.0  # a tensor once a loss is added
        parts: dict[str, Any] = {}
        for name, fn in self._loss_fns.items():
            if name not in pred:
                raise TrainingError(f"the model output has no '{name}'; it has {list(pred)}")
            if name not in y:
                raise TrainingError(f"{where}: no labels for output '{name}'")
            value = fn(pred[name], y[name])
            parts[name] = value
            total = total + self.cfg.outputs[name].weight * value
        return total, {"pred": pred, "parts": parts}

    def _accumulator(self) -> _Accumulator:
        pooled = {col: (name, fn) for name, fns in self._metric_fns.items()
                  for col, fn in fns.items() if getattr(fn, "pooled", False)}
        return _Accumulator(self._stat_names(), pooled)

    def _batch_stats(self, total: Any, info: dict, y: Mapping[str, Any]) -> dict[str, float]:
        stats = {"loss": float(total)}
        single = len(self._loss_fns) == 1
        for name, value in info["parts"].items():
            if not single:
                stats[f"{name}_loss"] = float(value.detach() if hasattr(value, "detach") else value)
            for col, fn in self._metric_fns[name].items():
                stats[col] = fn(info["pred"][name].detach(), y[name])
        return stats

    def _stat_names(self) -> list[str]:
        from .training import metric_name

        names = ["loss"]
        single = len(self.cfg.outputs) == 1
        for name in self.cfg.outputs:
            if not single:
                names.append(f"{name}_loss")
        for name, out in self.cfg.outputs.items():
            for m in out.metrics:
                names.append(metric_name(m) if single else f"{name}_{metric_name(m)}")
        return names

    def _setup_functions(self) -> None:
        from .training import make_loss, make_metric, metric_name

        self._loss_fns = {n: make_loss(o) for n, o in self.cfg.outputs.items()}
        single = len(self.cfg.outputs) == 1
        self._metric_fns = {
            n: {(metric_name(m) if single else f"{n}_{metric_name(m)}"): make_metric(m, o)
                for m in o.metrics}
            for n, o in self.cfg.outputs.items()}

    # -- checks before training -----------------------------------------------------------
    def _check_label_columns(self, sets: Sequence[InputSet]) -> None:
        if self.label_modifier is not None:
            return
        for s in sets:
            for tf in s.label_files():
                names = (tf.labels.dtype.names or ()) if tf.labels is not None else ()
                for out in self.cfg.outputs.values():
                    missing = [c for c in out.source_columns() if c not in names]
                    if missing:
                        raise FormatError(f"{tf.y_loc} has no label column(s) {missing} needed "
                                          f"by output '{out.name}'; present: {list(names)}",
                                          path=tf.path)

    def _dry_run(self, model: Any, sets: Sequence[InputSet], device: Any) -> None:
        """Push one batch of every listed file set through model and losses, changing nothing."""
        torch = import_optional("torch", extra="ml")
        from .training import TrainingError

        for s in sets:
            reader = BatchReader(s, min(self.cfg.batch_size, 4), shuffle=False, block_batches=1)
            batch = next(iter(reader))
            reader.close()
            for name, arr in batch.x.items():
                if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
                    raise FormatError(f"input '{name}' holds NaN/inf values (rows "
                                      f"{batch.where()})", path=batch.files[name])
            x, y = self._tensors(batch, device)
            for name, t in y.items():
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    raise FormatError(f"labels of output '{name}' hold NaN/inf values",
                                      path=batch.files[s.names[0]])
            was_training = model.training
            model.eval()
            try:
                with torch.random.fork_rng(devices=[]), torch.no_grad():
                    try:
                        pred = model(x)
                    except Exception as err:
                        shapes = {k: tuple(v.shape[1:]) for k, v in batch.x.items()}
                        raise TrainingError(f"the model fails on the first batch of "
                                            f"{batch.where()} (sample shapes {shapes}): "
                                            f"{type(err).__name__}: {err}") from err
                    total, _ = self._losses(pred, y, batch.where())
                    if not bool(torch.isfinite(torch.as_tensor(total))):
                        raise TrainingError(f"the loss is {float(total)} on the first batch of "
                                            f"{batch.where()}")
            finally:
                model.train(was_training)

    # -- training -------------------------------------------------------------------------
    def train_and_validate(self, model: Any, epochs: int | None = None) -> Any:
        """Train ``model`` until ``epochs`` epochs are done in total (default: the config's).

        ``model`` is a ``torch.nn.Module`` returning a dict of outputs, or a Keras 3 model on
        the torch backend (``KERAS_BACKEND=torch``; such a model is a ``torch.nn.Module``),
        e.g. a functional model with a dict of named outputs. The optimiser, schedule and
        losses come from the configuration, also for a compiled Keras model; give its layers
        names so that a resumed run in a new session finds its weights again.

        Resumes from the latest checkpoint in the output folder. Returns the model.

        Raises
        ------
        ConfigError, FormatError, TrainingError
            Found by the start-up checks (one batch is pushed through model and losses
            before training) or during training (NaN loss, naming file and rows).
        """
        torch = import_optional("torch", extra="ml")
        from . import training as T
        from .torchdata import make_loader

        kind = type(model).__module__.split(".")[0]
        if not isinstance(model, torch.nn.Module):
            hint = (" (a Keras 3 model is one when Keras runs on the torch backend: set "
                    "KERAS_BACKEND=torch before importing keras)" if kind == "keras" else "")
            raise ConfigError(f"train_and_validate needs a torch.nn.Module, got "
                              f"{type(model).__name__} from '{kind}'{hint}")
        if kind == "keras":
            log.info("training the Keras model %s with the optimiser, schedule and losses of "
                     "the configuration; its compile() settings are not used",
                     getattr(model, "name", type(model).__name__))
        target = self.cfg.epochs if epochs is None else int(epochs)
        rank, world, local_rank = _dist_info(torch)
        device = T.resolve_device(self.cfg.device, local_rank)
        model.to(device)
        self.model = model
        train_set = self.input_set("train")
        val_set = self.input_set("validation")
        sets = [s for s in (train_set, val_set) if s is not None]
        self._check_label_columns(sets)
        self._setup_functions()
        optimizer = T.build_optimizer(model.parameters(), self.cfg)
        scheduler = T.build_scheduler(optimizer, self.cfg)
        columns = ["Epoch", "LR"] + [f"{p}_{q}" for q in self._stat_names()
                                     for p in ("train", "val")]
        # Put the losses first as in the talk: Epoch | LR | train_loss | val_loss | …
        rows: list[list[float]] = []
        start_epoch = 0
        if self.cfg.dry_run:
            self._dry_run(model, sets, device)
        if rank == 0:
            self._prepare_folder()
        cps = self.checkpoints()
        if cps:
            state = T.load_checkpoint(cps[-1])
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            T.set_rng_state(state["rng"])
            rows = [list(r) for r in state["summary_rows"]]
            if state["summary_columns"] != columns:
                raise ConfigError(f"{cps[-1]}: the checkpoint's summary columns "
                                  f"{state['summary_columns']} differ from this config's "
                                  f"{columns}; use a new output folder")
            start_epoch = int(state["epoch"])
            log.info("resuming from %s (epoch %d)", cps[-1].name, start_epoch)
            if rank == 0:
                write_atomic(self.summary_path, format_summary(columns, rows))
        elif self.cfg.seed is not None:
            torch.manual_seed(self.cfg.seed)
        if start_epoch >= target:
            log.info("%d epochs are already done (asked for %d)", start_epoch, target)
            return model
        net = model
        if world > 1:
            ddp_ids = [device.index] if device.type == "cuda" else None
            net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ddp_ids)
        if train_set is None:
            raise ConfigError("no train_files are listed in the inputs: nothing to train on")
        reader = BatchReader(train_set, self.cfg.batch_size, self.cfg.shuffle,
                             self.cfg.block_batches, self.cfg.seed, rank, world)
        n_batches = len(reader)
        if n_batches == 0:
            raise FormatError(f"no training batch for rank {rank} of {world}")
        points = sorted({max(1, round(n_batches * (j + 1) / self.cfg.summaries_per_epoch))
                         for j in range(self.cfg.summaries_per_epoch)})
        stats = self._stat_names()
        ctx = {"torch": torch, "device": device, "rank": rank, "world": world,
               "val_set": val_set, "net": net}
        for epoch in range(start_epoch, target):
            reader.set_epoch(epoch)
            loader = make_loader(reader, self.cfg.num_workers, device.type == "cuda")
            log_lines = [" ".join(["batch", "epoch"] + stats + ["lr"])]
            acc = self._accumulator()
            bar = _progress(n_batches, epoch, target, self.progress and rank == 0)
            net.train()
            it = iter(loader)
            try:
                for b in range(n_batches):
                    batch = next(it)
                    x, y = self._tensors(batch, device)
                    optimizer.zero_grad(set_to_none=True)
                    pred = net(x)
                    total, info = self._losses(pred, y, batch.where())
                    if not bool(torch.isfinite(total.detach())):
                        raise T.TrainingError(self._nan_message(total, epoch, b, batch))
                    total.backward()
                    optimizer.step()
                    if self.cfg.schedule["interval"] == "batch":
                        scheduler.step()
                    values = self._batch_stats(total.detach(), info, y)
                    acc.add(values, len(batch), info["pred"], y)
                    lr = optimizer.param_groups[0]["lr"]
                    frac = epoch + (b + 1) / n_batches
                    log_lines.append(" ".join(
                        [str(b + 1), f"{frac:.6g}"] + [f"{values[s]:.6g}" for s in stats]
                        + [f"{lr:.6g}"]))
                    bar.update(1)
                    bar.set_postfix(loss=f"{values['loss']:.4g}")
                    if b + 1 in points:
                        point = epoch * len(points) + points.index(b + 1)
                        train_means = acc.mean(torch, world, device)
                        acc = self._accumulator()
                        vi = self.cfg.validate_interval
                        val = None
                        if val_set is not None and vi and (point + 1) % vi == 0:
                            val = self._validate(ctx)
                        row = [frac, lr]
                        for s in stats:
                            row += [train_means[s], val[s] if val else float("nan")]
                        rows.append(row)
                        if rank == 0:
                            write_atomic(self.summary_path, format_summary(columns, rows))
                        net.train()
            finally:
                # close the files also when training stops with an error or Ctrl-C
                bar.close()
                if hasattr(it, "close"):
                    it.close()
                reader.close()
            del it, loader
            if self.cfg.schedule["interval"] == "epoch":
                scheduler.step()
            if rank == 0:
                self._end_epoch(epoch + 1, model, optimizer, scheduler, columns, rows,
                                log_lines)
            if world > 1:
                torch.distributed.barrier()
        return model

    def _validate(self, ctx: Mapping[str, Any]) -> dict[str, float]:
        torch = ctx["torch"]
        reader = BatchReader(ctx["val_set"], self.cfg.batch_size, False,
                             self.cfg.block_batches, self.cfg.seed, ctx["rank"], ctx["world"])
        acc = self._accumulator()
        ctx["net"].eval()
        # the bare module, so DDP does not expect a backward pass
        net = getattr(ctx["net"], "module", ctx["net"])
        try:
            with torch.no_grad():
                for batch in reader:
                    x, y = self._tensors(batch, ctx["device"])
                    total, info = self._losses(net(x), y, batch.where())
                    acc.add(self._batch_stats(total, info, y), len(batch), info["pred"], y)
        finally:
            reader.close()
        return acc.mean(torch, ctx["world"], ctx["device"])

    def _nan_message(self, total: Any, epoch: int, b: int, batch: Batch) -> str:
        xs = {n: np.asarray(a) for n, a in batch.x.items()}  # tensors from loader workers
        reasons = [f"input '{n}' holds NaN/inf" for n, a in xs.items()
                   if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a))]
        if batch.y is not None:
            reasons += [f"label '{c}' holds NaN/inf" for c in (batch.y.dtype.names or ())
                        if np.issubdtype(batch.y.dtype[c], np.floating)
                        and not np.all(np.isfinite(batch.y[c]))]
        why = "; ".join(reasons) or "inputs and labels are finite (diverging training?)"
        return (f"the loss is {float(total.detach())} at epoch {epoch + 1} batch {b + 1} "
                f"({batch.where()}): {why}")

    def _prepare_folder(self) -> None:
        self.output_folder.mkdir(parents=True, exist_ok=True)
        self.checkpoint_folder.mkdir(exist_ok=True)
        (self.output_folder / "train_log").mkdir(exist_ok=True)
        # leftovers of an interrupted write
        for tmp in self.output_folder.rglob(".*.tmp*"):
            tmp.unlink(missing_ok=True)

    def _end_epoch(self, epoch: int, model: Any, optimizer: Any, scheduler: Any,
                   columns: list[str], rows: list[list[float]], log_lines: list[str]) -> None:
        from .training import rng_state, save_checkpoint

        write_atomic(self.output_folder / "train_log" / f"epoch_{epoch:04d}.txt",
                     "\n".join(log_lines) + "\n")
        payload = {"epoch": epoch, "model": model.state_dict(),
                   "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                   "rng": rng_state(), "summary_columns": columns, "summary_rows": rows,
                   "config": self.cfg.source}
        save_checkpoint(self.checkpoint_folder / f"epoch_{epoch:04d}.pt", payload)
        if self.cfg.plot:
            plot_summary(self.get_summary_data(), self.output_folder / "summary.pdf",
                         self.output_folder / "summary.png")

    # -- prediction -----------------------------------------------------------------------
    def predict(self, files: Sequence[str | os.PathLike] | Mapping[str, Sequence[Any]] |
                None = None, model: Any = None, epoch: int | None = None,
                output_dir: str | os.PathLike | None = None) -> list[Path]:
        """Write the model's predictions next to the labels into new HDF5 files.

        Parameters
        ----------
        files
            A list of files (single-input models), ``{input: [files]}``, or None for the
            validation files of the list file.
        model
            The model (default: the one last trained by this organiser).
        epoch
            Load the weights of this checkpoint into ``model`` first (-1: the latest).
        output_dir
            Where the prediction files go (default: ``predictions`` in the output folder).

        Returns
        -------
        list of Path
            ``<output_dir>/pred_<file name>`` per file: ``/y`` (labels with ``group_id``)
            and ``/pred`` (``pred_<label column>`` per output), KM3Pipe layout.
        """
        torch = import_optional("torch", extra="ml")
        from .h5layout import TrainingFileWriter
        from .training import load_checkpoint, resolve_device

        model = self.model if model is None else model
        if model is None:
            raise ConfigError("predict needs a model (none was trained by this organiser)")
        device = resolve_device(self.cfg.device)
        model.to(device)
        if epoch is not None:
            cps = self.checkpoints()
            path = cps[-1] if epoch == -1 and cps else self.checkpoint_folder / \
                f"epoch_{epoch:04d}.pt"
            if not path.is_file():
                raise ConfigError(f"no checkpoint {path}")
            model.load_state_dict(load_checkpoint(path)["model"])
        if files is None:
            files = {n: i.validation_files for n, i in self.inputs.items()}
        elif not isinstance(files, Mapping):
            if len(self.inputs) != 1:
                raise ConfigError(f"the model has inputs {list(self.inputs)}: give "
                                  "{input: [files]}")
            files = {next(iter(self.inputs)): list(files)}
        inputs = InputSet(files, self.cfg.x_loc, self.cfg.y_loc, need_labels=False)
        if not self.cfg.outputs:
            raise ConfigError("predict needs [outputs.NAME] sections to name the columns")
        self._setup_functions()
        out_dir = Path(output_dir) if output_dir is not None else \
            self.output_folder / "predictions"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        model.eval()
        for row in inputs.files:
            single = InputSet.__new__(InputSet)
            single.names, single.files = inputs.names, [row]
            label_file = row[inputs.names[0]]
            path = out_dir / f"pred_{label_file.path.name}"
            reader = BatchReader(single, self.cfg.batch_size, shuffle=False,
                                 block_batches=self.cfg.block_batches)
            with TrainingFileWriter(path) as writer, torch.no_grad(), closing(reader):
                for batch in reader:
                    x, _ = self._tensors(batch, device, with_labels=False)
                    pred = model(x)
                    if not isinstance(pred, Mapping):
                        pred = {next(iter(self.cfg.outputs)): pred}
                    tables = {"/pred": self._prediction_table(pred)}
                    if batch.y is not None:
                        tables["/y"] = batch.y
                    writer.append(tables=tables)
            written.append(path)
        return written

    def _prediction_table(self, pred: Mapping[str, Any]) -> np.ndarray:
        torch = import_optional("torch", extra="ml")
        cols = {}
        for name, out in self.cfg.outputs.items():
            p = pred[name].detach()
            prefix = "log10_" if out.transform == "log10" else ""
            if out.loss == "gaussian_nll" and p.ndim == 2 and p.shape[1] == out.size:
                # means and sigmas (after the softplus of the loss), in the label's units
                from .training import _gaussian_parts

                mean, sigma = _gaussian_parts(out, p)
                p = torch.cat([mean, sigma], dim=1)
                names = ([f"pred_{prefix}{c}" for c in out.labels]
                         + [f"sigma_{prefix}{c}" for c in out.labels])
            elif out.classes and p.ndim == 2 and p.shape[1] == out.size:
                names = [f"pred_{name}_{c['name']}" for c in out.classes]
            else:
                names = None
            p = p.cpu().numpy()
            p = p.reshape(len(p), -1)
            if names is None and p.shape[1] == len(out.labels):
                names = [f"pred_{prefix}{c}" for c in out.labels]
            elif names is None:
                names = [f"pred_{name}_{i}" for i in range(p.shape[1])]
            for i, c in enumerate(names):
                cols[c] = p[:, i]
        out_arr = np.empty(len(next(iter(cols.values()))),
                           dtype=[(c, v.dtype) for c, v in cols.items()])
        for c, v in cols.items():
            out_arr[c] = v
        return out_arr


class _Accumulator:
    """Sample-weighted sums of batch statistics; reduced over ranks when distributed.

    Pooled metrics (AUC, resolution, pull) are computed at the end from the predictions
    and targets of all batches (gathered from all ranks when distributed).
    """

    def __init__(self, names: Sequence[str], pooled: Mapping[str, tuple[str, Any]] | None = None
                 ) -> None:
        self.names = list(names)
        self.sums = np.zeros(len(self.names))
        self.n = 0
        self.pooled = dict(pooled or {})
        self.kept: dict[str, tuple[list[Any], list[Any]]] = {}

    def add(self, values: Mapping[str, float], n: int, pred: Mapping[str, Any] | None = None,
            y: Mapping[str, Any] | None = None) -> None:
        self.sums += np.array([values[k] for k in self.names]) * n
        self.n += n
        for name in {name for name, _ in self.pooled.values()}:
            preds, targets = self.kept.setdefault(name, ([], []))
            assert pred is not None and y is not None  # given whenever metrics are pooled
            preds.append(pred[name].detach().cpu())
            targets.append(y[name].detach().cpu())

    def mean(self, torch: Any, world: int, device: Any) -> dict[str, float]:
        sums, n = self.sums, self.n
        if world > 1:
            t = torch.tensor(np.append(sums, n), dtype=torch.float64, device=device)
            torch.distributed.all_reduce(t)
            arr = t.cpu().numpy()
            sums, n = arr[:-1], arr[-1]
        if n == 0:
            return {k: float("nan") for k in self.names}
        result = {k: float(v / n) for k, v in zip(self.names, sums)}
        for col, (name, fn) in self.pooled.items():
            preds, targets = self.kept.get(name, ([], []))
            mine = (torch.cat(preds), torch.cat(targets)) if preds else None
            if world > 1:
                parts: list[Any] = [None] * world
                torch.distributed.all_gather_object(parts, mine)
                got = [q for q in parts if q is not None]  # a rank may have had no batch
                mine = (torch.cat([q[0] for q in got]), torch.cat([q[1] for q in got]))
            assert mine is not None  # pooled metrics saw at least one batch
            result[col] = fn(*mine)
        return result


def _to_device(torch: Any, xs: Any, device: Any, key: str = "") -> Any:
    from .torchdata import to_tensor

    if isinstance(xs, Mapping):
        return {k: _to_device(torch, v, device, k) for k, v in xs.items()}
    if key == "mask":
        return to_tensor(xs, device, torch.bool)
    return to_tensor(xs, device, _float(torch, xs))


def _float(torch: Any, array: Any) -> Any:
    if isinstance(array, torch.Tensor):
        return torch.float32
    kind = np.asarray(array).dtype.kind
    return torch.float32 if kind in "fiub" else None


def _dist_info(torch: Any) -> tuple[int, int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return dist.get_rank(), dist.get_world_size(), local
    return 0, 1, 0


def _progress(total: int, epoch: int, target: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch + 1}/{target}", unit="batch",
                disable=not enabled, leave=False)
