"""Tests of km3flow.ml.dataset / torchdata: chunked, shuffled, multi-input batch reading."""

from __future__ import annotations

import numpy as np
import pytest
import tables
from ml_files import read_xy, write_subset

from km3flow.exceptions import FormatError
from km3flow.ml.dataset import BatchReader, InputSet, TrainingFile
from km3flow.ml.h5layout import TrainingFileWriter


def test_training_file_reads_km3pipe_layout(binned):
    tf = TrainingFile(binned)
    assert len(tf) == 500 and tf.sample_shape == (31, 20)
    np.testing.assert_array_equal(tf.group_ids, np.arange(500))
    assert set(tf.labels.dtype.names) >= {"dir_x", "energy", "event_id", "group_id"}


def test_all_rows_once_per_epoch_shuffled_and_seeded(small_files):
    train, _ = small_files
    x, y = read_xy(train)
    inputs = InputSet({"xy": [train]})
    reader = BatchReader(inputs, batch_size=16, shuffle=True, block_batches=2, seed=3)
    assert len(reader) == 10
    rows = []
    for batch in reader:
        np.testing.assert_array_equal(batch.x["xy"], x[batch.rows])
        np.testing.assert_array_equal(batch.y["energy"], y["energy"][batch.rows])
        rows.append(batch.rows)
    order0 = np.concatenate(rows)
    assert sorted(order0) == list(range(160)) and not np.array_equal(order0, np.arange(160))
    again = np.concatenate([b.rows for b in reader])
    np.testing.assert_array_equal(order0, again)
    reader.set_epoch(1)
    assert not np.array_equal(order0, np.concatenate([b.rows for b in reader]))
    plain = BatchReader(inputs, batch_size=64, shuffle=False)
    assert [len(b) for b in plain] == [64, 64, 32]


def test_shards_are_disjoint_and_equal_length(small_files):
    train, _ = small_files
    inputs = InputSet({"xy": [train, train]})
    readers = [BatchReader(inputs, 16, True, 2, seed=1, rank=r, world_size=2) for r in (0, 1)]
    assert len(readers[0]) == len(readers[1]) == 10
    seen = [{(b.file_index, int(r)) for b in rd for r in b.rows} for rd in readers]
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 320


def test_multi_input_join_and_mismatch(small_files, tmp_path):
    train, val = small_files
    x, y = read_xy(train)
    other = write_subset(tmp_path / "yz.h5", x[:, ::-1].copy(), y)
    inputs = InputSet({"xy": [train], "yz": [other]})
    batch = next(iter(BatchReader(inputs, 8)))
    np.testing.assert_array_equal(batch.x["yz"], batch.x["xy"][:, ::-1])
    with pytest.raises(FormatError, match="other events"):
        InputSet({"xy": [train], "yz": [val]})
    with pytest.raises(FormatError, match="different numbers of files"):
        InputSet({"xy": [train, train], "yz": [other]})


def test_data_loader_workers_give_every_row(small_files):
    from km3flow.ml.torchdata import make_loader

    train, _ = small_files
    reader = BatchReader(InputSet({"xy": [train]}), 16, True, 2, seed=5)
    loader = make_loader(reader, num_workers=2)
    rows = np.concatenate([b.rows for b in loader])
    assert sorted(rows) == list(range(160))


def test_bad_files_raise_format_errors(small_files, tmp_path):
    train, _ = small_files
    x, y = read_xy(train)
    with pytest.raises(FormatError, match="does not exist"):
        TrainingFile(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        TrainingFile(tmp_path / "text.h5")
    with tables.open_file(str(tmp_path / "empty.h5"), "w") as h5:
        h5.create_earray("/", "x", atom=tables.Float32Atom(), shape=(0, 31, 20))
    with pytest.raises(FormatError, match="empty"):
        TrainingFile(tmp_path / "empty.h5")
    with TrainingFileWriter(tmp_path / "nolabels.h5") as w:
        w.append(images={"/x": x[:10]})
    with pytest.raises(FormatError, match="no label table at /y"):
        TrainingFile(tmp_path / "nolabels.h5")
    assert TrainingFile(tmp_path / "nolabels.h5", need_labels=False).labels is None
    # labels of one event missing (derived from the real file)
    with TrainingFileWriter(tmp_path / "gap.h5") as w:
        w.append(images={"/x": x[:10]}, tables={"/y": y[:10]})
    with tables.open_file(str(tmp_path / "gap.h5"), "a") as h5:
        h5.root.y.remove_rows(4, 5)
    with pytest.raises(FormatError, match="group_id 4.*no label row"):
        TrainingFile(tmp_path / "gap.h5")
