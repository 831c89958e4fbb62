"""Fixtures of the parallel tests: real KM3Pipe HDF5 testdata files and pipeline builders."""

from __future__ import annotations

import pytest
from parallel_testmods import CountHits, H5EventPump, MiniH5Sink, TextSink

from km3flow.core import Pipeline

# Event and hit counts of the files, read from their /event_info and /hits node shapes
# with PyTables (events_sample: 10 events, 1078 hits; mupage: 10, 1293; geamon: 2, 25699).
FILES = {
    "online/events_sample.h5": (10, 1078),
    "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5": (10, 1293),
    "hdf5/geamon.h5": (2, 25699),
}


@pytest.fixture(scope="session")
def h5files(testdata):
    """Six inputs (each testdata file twice, interleaved) and their total counts."""
    names = list(FILES) * 2
    n_events = sum(FILES[n][0] for n in names)
    n_hits = sum(FILES[n][1] for n in names)
    return [testdata(n) for n in names], n_events, n_hits


@pytest.fixture
def build(tmp_path):
    """build(files, tag, *extra) -> Pipeline: pump → extra modules → CountHits → sinks."""

    def _build(files, tag="out", extra=(), timeit=False, h5=True):
        pipe = Pipeline(timeit=timeit)
        pipe.attach(H5EventPump, filenames=files)
        for cls, params in extra:
            pipe.attach(cls, **params)
        pipe.attach(CountHits)
        pipe.attach(TextSink, filename=str(tmp_path / f"{tag}.txt"))
        if h5:
            pipe.attach(MiniH5Sink, filename=str(tmp_path / f"{tag}.h5"))
        return pipe

    return _build
