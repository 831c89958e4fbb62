"""Parallel draining through a dask.distributed LocalCluster with 2 workers."""

from __future__ import annotations

import os

import pytest
from distributed import Client, LocalCluster
from h5compare import assert_same_h5
from parallel_testmods import Crash

from km3flow.core import Pipeline
from km3flow.io.files import FilePump
from km3flow.io.hdf5 import HDF5Sink
from km3flow.parallel import WorkerError, executor_from_args


@pytest.fixture(scope="module")
def client():
    # Threads in this process keep the test quick; the tasks are the same as on a
    # multi-node cluster (pickled specs, one file per task).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def test_dask_run_writes_what_the_serial_run_writes(client, h5files, build, tmp_path):
    files, n_events, n_hits = h5files
    serial = build(files, "serial").drain()
    pipe = build(files, "dask", timeit=True)
    result = pipe.drain(executor=client)
    assert result["CountHits"] == serial["CountHits"] == {"n_events": n_events,
                                                          "n_hits": n_hits}
    assert (tmp_path / "dask.txt").read_text() == (tmp_path / "serial.txt").read_text()
    assert_same_h5(str(tmp_path / "dask.h5"), str(tmp_path / "serial.h5"))
    summary = pipe.parallel_summary
    assert "Dask" in summary.executor and summary.n_workers == 2
    assert summary.cycles == n_events
    assert {w.worker for w in summary.workers} <= set(client.scheduler_info()["workers"])
    assert summary.modules["CountHits"].wall.n == n_events


def test_dask_worker_error_names_module_and_file(client, h5files, build, tmp_path):
    files, _, _ = h5files
    bad = os.path.basename(files[0])
    pipe = build(files[:3], "out", extra=[(Crash, {"crash_on": bad, "at": 0})], h5=False)
    with pytest.raises(WorkerError, match="module 'Crash'.*boom") as info:
        pipe.drain(executor=client)
    assert info.value.input_files == [files[0]]
    assert info.value.worker in client.scheduler_info()["workers"]
    assert not (tmp_path / "out.txt").exists()


def test_scheduler_address_gives_a_client(client, h5files, build, tmp_path):
    files, _, _ = h5files
    address = client.scheduler.address
    with executor_from_args(None, address) as kwargs:
        assert set(kwargs) == {"executor"}
        build(files[:2], "cli", h5=False).drain(**kwargs)
    assert len((tmp_path / "cli.txt").read_text().splitlines()) == 20


def test_dask_convert_of_evt_files_equals_serial(client, testdata, tmp_path):
    """FilePump → HDF5Sink over 4 real EVT files (each with a raw-header singleton): the
    dask run writes every node of the serial file, /group_info included."""
    from km3flow.core import Pipeline
    from km3flow.io import FilePump
    from km3flow.io.hdf5 import HDF5Sink

    a, b = testdata("evt/example_numuCC.evt"), testdata("evt/example_numuNC.evt")
    for tag, kwargs in (("serial", {}), ("dask", {"executor": client})):
        pipe = Pipeline()
        pipe.attach(FilePump, filenames=[a, b, a, b])
        pipe.attach(HDF5Sink, filename=str(tmp_path / f"{tag}.h5"))
        pipe.drain(**kwargs)
    assert_same_h5(str(tmp_path / "dask.h5"), str(tmp_path / "serial.h5"), provenance=False)


def _profiler_running(client):
    def running(dask_worker):
        return [dask_worker.periodic_callbacks[n].is_running()
                for n in ("profile", "profile-cycle")]
    return client.run(running)


def test_workers_profiler_paused_during_the_run_and_restarted_after(client, testdata,
                                                                     tmp_path):
    # The profiler samples the task's stack every 10 ms (12 % of a worker's CPU on
    # km3flow tasks): paused while km3flow's tasks run, running again afterwards.
    from km3flow.parallel.dask import DaskExecutor

    assert all(all(v) for v in _profiler_running(client).values())
    executor = DaskExecutor(client)
    paused = executor._pause_profilers()
    assert sorted(paused) == sorted(_profiler_running(client))
    assert not any(any(v) for v in _profiler_running(client).values())
    executor._resume_profilers(paused)
    assert all(all(v) for v in _profiler_running(client).values())

    seen = []

    class Spy(DaskExecutor):
        def _run(self, tasks):
            seen.append(_profiler_running(self.client))
            return super()._run(tasks)

    files = [testdata("offline/km3net_offline.root")] * 2
    pipe = Pipeline()
    pipe.attach(FilePump, filenames=files)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "out.h5"))
    pipe.drain(executor=Spy(client))
    assert seen and not any(any(v) for v in seen[0].values())
    assert all(all(v) for v in _profiler_running(client).values())

    seen.clear()
    pipe = Pipeline()
    pipe.attach(FilePump, filenames=files)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "kept.h5"))
    pipe.drain(executor=Spy(client, pause_profiler=False))
    assert all(all(v) for v in seen[0].values())
