"""PyTorch wrappers of :mod:`km3flow.ml.dataset` (imported only where torch is wanted).

:class:`BatchDataset` is a ``torch.utils.data.IterableDataset`` that yields ready-made
batches (a :class:`~km3flow.ml.dataset.Batch` of numpy arrays), so a ``DataLoader`` with
``batch_size=None`` can read them in worker processes; each worker reads its own share of
the blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .dataset import Batch, BatchReader


class BatchDataset(IterableDataset):
    """Batches of a :class:`BatchReader` for ``torch.utils.data.DataLoader``.

    Examples
    --------
    >>> import numpy as np
    >>> from km3flow.ml.dataset import InputSet
    >>> from km3flow.ml.h5layout import TrainingFileWriter
    >>> with TrainingFileWriter("train.h5") as w:
    ...     w.append(images={"/x": np.ones((100, 8, 8), np.uint8)},
    ...              tables={"/y": np.zeros(100, [("dir_x", "f4")])})
    >>> reader = BatchReader(InputSet({"xy": ["train.h5"]}), 32)
    >>> loader = make_loader(reader, num_workers=2)     # a DataLoader with 2 processes
    >>> sorted(len(batch) for batch in loader)          # the events of the batches
    [4, 32, 32, 32]
    """

    def __init__(self, reader: BatchReader) -> None:
        super().__init__()
        self.reader = reader

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        if info is None:
            return self.reader.iterate()
        return self._as_tensors(self.reader.iterate(worker=info.id, n_workers=info.num_workers))

    @staticmethod
    def _as_tensors(batches: Iterator[Batch]) -> Iterator[Batch]:
        # In a worker: float32 tensors travel to the main process through shared memory
        # (numpy arrays would be pickled through a pipe), and the dtype conversion runs
        # in parallel in the workers.
        for batch in batches:
            batch.x = {k: torch.from_numpy(v).to(torch.float32) for k, v in batch.x.items()}
            batch.mask = {k: torch.from_numpy(v) for k, v in batch.mask.items()}
            yield batch

    def __len__(self) -> int:
        return len(self.reader)


def _identity(batch: Any) -> Any:
    return batch


def make_loader(reader: BatchReader, num_workers: int = 0,
                pin_memory: bool = False) -> DataLoader | BatchDataset:
    """A DataLoader over ``reader`` (or the dataset itself when ``num_workers`` is 0)."""
    dataset = BatchDataset(reader)
    if num_workers <= 0:
        return dataset
    return DataLoader(dataset, batch_size=None, num_workers=num_workers,
                      collate_fn=_identity, pin_memory=pin_memory, persistent_workers=False)


def to_tensor(array: Any, device: Any, dtype: Any = None) -> torch.Tensor:
    """A numpy array as a tensor on ``device`` (zero-copy on CPU when possible)."""
    tensor = torch.as_tensor(array)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.to(device, non_blocking=True)
