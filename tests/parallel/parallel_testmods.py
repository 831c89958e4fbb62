"""Modules for the parallel tests: a pump over real KM3Pipe HDF5 testdata files, sinks that
declare how their part files merge, and modules that fail in controlled ways.

They live in an importable module (not in the test files) because worker processes
rebuild pipelines from the classes' import paths.
"""

from __future__ import annotations

import glob
import os
import signal
import time
import uuid

import numpy as np
import tables

from km3flow.core import Blob, Module, Pump
from km3flow.core.config import Parameter
from km3flow.io.files import FilePump
from km3flow.io.hdf5.merge import merge_hdf5

HIT_DTYPE = np.dtype([("dom_id", "<i4"), ("channel_id", "<u4"), ("time", "<f8"),
                      ("tot", "<u4"), ("triggered", "<u8")])
EVENT_DTYPE = np.dtype([("event_id", "<i8"), ("run_id", "<i8"), ("n_hits", "<i8")])


class H5EventPump(Pump):
    """Streams events (event_info row + hits) from KM3Pipe-layout HDF5 files."""

    parallel_input = "filenames"

    def configure(self) -> None:
        self.filenames = list(self.require("filenames"))

    def blob_generator(self):
        for path in self.filenames:
            with tables.open_file(path, "r") as f:
                info = f.get_node("/event_info").read()
                idx = f.get_node("/hits/_indices").read()
                cols = {c: f.get_node(f"/hits/{c}").read() for c in HIT_DTYPE.names}
                for g in range(len(info)):
                    start, n = int(idx["index"][g]), int(idx["n_items"][g])
                    hits = np.empty(n, HIT_DTYPE)
                    for c in HIT_DTYPE.names:
                        hits[c] = cols[c][start:start + n]
                    yield Blob(filename=os.path.basename(path), event_id=int(info["event_id"][g]),
                               run_id=int(info["run_id"][g]), hits=hits)

    def close(self) -> None:
        # Closing the generator closes the file it has open.
        if self._iterator is not None:
            self._iterator.close()
            self._iterator = None


class CountHits(Module):
    """Counts events and hits; finish() results of several workers add up via merge."""

    def configure(self) -> None:
        self.n_events = 0
        self.n_hits = 0

    def process(self, blob: Blob) -> Blob:
        self.n_events += 1
        self.n_hits += len(blob["hits"])
        return blob

    def finish(self) -> dict:
        return {"n_events": self.n_events, "n_hits": self.n_hits}

    @classmethod
    def merge(cls, results: list) -> dict:
        return {k: sum(r[k] for r in results) for k in ("n_events", "n_hits")}


class Burn(Module):
    """A CPU-bound step: a few FFT-free float loops per hit, for speed-up measurements."""

    def configure(self) -> None:
        self.rounds = self.get("rounds", default=20)

    def process(self, blob: Blob) -> Blob:
        t = blob["hits"]["time"]
        acc = 0.0
        for _ in range(self.rounds):
            acc += float(np.sort(np.sin(t) * np.cos(t)).sum())
        blob["burn"] = acc
        return blob


class Crash(Module):
    """Raises in cycle ``at`` of the file named ``crash_on``."""

    def configure(self) -> None:
        self.crash_on = self.require("crash_on")
        self.at = self.get("at", default=3)
        self.seen = 0

    def process(self, blob: Blob) -> Blob:
        if blob["filename"] == self.crash_on:
            self.seen += 1
            if self.seen > self.at:
                raise RuntimeError(f"boom at event {blob['event_id']}")
        return blob


class Kill(Module):
    """SIGKILLs its own worker process on the first event of the file named ``kill_on``."""

    def configure(self) -> None:
        self.kill_on = self.require("kill_on")

    def process(self, blob: Blob) -> Blob:
        if blob["filename"] == self.kill_on:
            os.kill(os.getpid(), signal.SIGKILL)
        return blob


class Sleepy(Module):
    """Writes its pid to ``piddir`` and sleeps per event (for the Ctrl-C test)."""

    def configure(self) -> None:
        self.piddir = self.require("piddir")
        self.delay = self.get("delay", default=0.05)

    def prepare(self) -> None:
        open(os.path.join(self.piddir, f"{os.getpid()}.pid"), "w").close()

    def process(self, blob: Blob) -> Blob:
        time.sleep(self.delay)
        return blob


class TextSink(Module):
    """One line per event: a running row number, the event id, the hit count and tot sum.

    The row number continues across files, like a group_id, so merging parts must
    renumber it.
    """

    parallel_output = "filename"

    def configure(self) -> None:
        self.filename = self.require("filename")
        self.row = 0

    def prepare(self) -> None:
        self._tmp = self.filename + ".tmp"
        self._fh = open(self._tmp, "w")  # noqa: SIM115 - open until finish()

    def process(self, blob: Blob) -> Blob:
        hits = blob["hits"]
        self._fh.write(f"{self.row} {blob['filename']} {blob['event_id']} {len(hits)} "
                       f"{int(hits['tot'].sum())}\n")
        self.row += 1
        return blob

    def finish(self) -> None:
        self._fh.close()
        os.replace(self._tmp, self.filename)

    @classmethod
    def merge_outputs(cls, part_paths: list[str], final_path: str) -> None:
        row = 0
        with open(final_path, "w") as out:
            for part in part_paths:
                with open(part) as fh:
                    for line in fh:
                        out.write(f"{row} {line.split(' ', 1)[1]}")
                        row += 1


class MiniH5Sink(Module):
    """A minimal KM3Pipe-layout writer: /event_info, split /hits, an NDArray, /group_info.

    Enough of the layout to check merge_hdf5 end to end (group_id renumbering, split
    group and NDArray index tables, singletons, PyTables column indexes).
    """

    parallel_output = "filename"

    def configure(self) -> None:
        self.filename = self.require("filename")

    def prepare(self) -> None:
        self._tmp = self.filename + ".tmp"
        filters = tables.Filters(complevel=5, complib="zlib", shuffle=True, fletcher32=True)
        f = self._h5 = tables.open_file(self._tmp, "w", title="KM3NeT")
        self._info = f.create_table("/", "event_info",
                                    np.dtype(EVENT_DTYPE.descr + [("group_id", "<i8")]),
                                    title="EventInfo", filters=filters)
        self._info.attrs.datatype = "EventInfo"
        f.create_table("/", "meta", np.dtype([("writer", "S16")]), title="Meta",
                       filters=filters).append(np.array([(b"MiniH5Sink",)], "S16"))
        hits = f.create_group("/", "hits", title="Hits")
        hits._v_attrs.datatype = "Hits"
        self._cols = {c: f.create_earray(hits, c, tables.Atom.from_dtype(HIT_DTYPE[c]), (0,),
                                         title=c.capitalize(), filters=filters)
                      for c in HIT_DTYPE.names}
        self._cols["group_id"] = f.create_earray(hits, "group_id", tables.Int64Atom(), (0,),
                                                 title="Group_id", filters=filters)
        idx_dtype = [("index", "<i8"), ("n_items", "<i8")]
        self._hit_idx = f.create_table(hits, "_indices", np.dtype(idx_dtype), title="Indices",
                                       filters=filters)
        self._doms = f.create_earray("/", "doms", tables.Int32Atom(), (0, 2), title="Doms",
                                     filters=filters)
        self._dom_idx = f.create_table("/", "doms_indices", np.dtype(idx_dtype), title="Indices",
                                       filters=filters)
        self._groups = f.create_table("/", "group_info", np.dtype([("blob_length", "<i8"),
                                                                   ("group_id", "<i8")]),
                                      title="Group Info", filters=filters)
        self._groups.attrs.datatype = "Group Info"
        self.index = 0

    def process(self, blob: Blob) -> Blob:
        g = self.index
        hits = blob["hits"]
        row = np.array([(blob["event_id"], blob["run_id"], len(hits), g)],
                       self._info.dtype)
        self._info.append(row)
        self._hit_idx.append(np.array([(self._cols["time"].nrows, len(hits))],
                                      self._hit_idx.dtype))
        for c in HIT_DTYPE.names:
            self._cols[c].append(hits[c])
        self._cols["group_id"].append(np.full(len(hits), g, np.int64))
        doms, counts = np.unique(hits["dom_id"], return_counts=True)
        self._dom_idx.append(np.array([(self._doms.nrows, len(doms))], self._dom_idx.dtype))
        self._doms.append(np.stack([doms, counts], axis=1).astype(np.int32).reshape(-1, 2))
        self._groups.append(np.array([(3, g)], self._groups.dtype))
        self.index += 1
        return blob

    def finish(self) -> None:
        f = self._h5
        try:
            self._info.cols.group_id.create_index()
            f.root._v_attrs.format_version = np.bytes_(b"5.1")
            f.root._v_attrs.kid = np.bytes_(str(uuid.uuid4()).encode())
        finally:
            f.close()
        os.replace(self._tmp, self.filename)

    @classmethod
    def merge_outputs(cls, part_paths: list[str], final_path: str) -> None:
        merge_hdf5(part_paths, final_path)


class BrokenMergeSink(TextSink):
    """A TextSink whose part merging fails half-way (after writing some output)."""

    @classmethod
    def merge_outputs(cls, part_paths: list[str], final_path: str) -> None:
        with open(final_path, "w") as out:
            out.write("half\n")
        raise OSError("disk full")


class GatedFilePump(FilePump):
    """A FilePump that waits, before reading a file named in ``gates``, until a path
    matching the glob pattern given for it exists: tasks then end in the order a test
    chooses (e.g. after another task's part file was written), whatever the load."""

    gates = Parameter(dict, default=None, help="file name -> glob pattern to wait for")
    gate_timeout = Parameter(float, default=120.0, help="seconds to wait at most")

    def prepare(self) -> None:  # in the task's process (configure runs at attach, too)
        super().prepare()
        for name in self.filenames:
            pattern = (self.gates or {}).get(os.path.basename(name))
            if pattern is None:
                continue
            deadline = time.monotonic() + self.gate_timeout
            while not glob.glob(pattern):
                if time.monotonic() > deadline:  # a deadlock guard, not a timing check
                    raise RuntimeError(f"{name}: nothing matched {pattern!r} within "
                                       f"{self.gate_timeout} s")
                time.sleep(0.02)
