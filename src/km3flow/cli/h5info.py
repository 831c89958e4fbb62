"""``km3flow h5info FILE``: provenance, root attributes and a node summary of an HDF5 file.

Works for files written by km3flow and by KM3Pipe (which have no km3flow provenance).
A file of a failed or interrupted run (``out.partial.h5``) shows ``status PARTIAL``
with its blob count; temporary files that killed writers of the file left next to it
(``.out.h5.<hex>.tmp``) are named, also when the file itself does not exist.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``h5info`` arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="HDF5 file(s) to describe")
    parser.add_argument("--json", action="store_true",
                        help="print the provenance record as JSON only")


def _value(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if hasattr(v, "item") and getattr(v, "shape", None) == ():
        v = v.item()
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
    return str(v)


def _filters(node: Any) -> str:
    f = node.filters
    parts = []
    if f.complevel:
        parts.append(f"{f.complib}({f.complevel})")
    if f.shuffle:
        parts.append("shuffle")
    if f.fletcher32:
        parts.append("fletcher32")
    return ", ".join(parts) or "no filters"


def describe(path: str, out: TextIO, as_json: bool = False) -> None:
    """Write the description of one file to ``out``."""
    import tables as tb

    from ..io.hdf5.format import COLUMNS_ATTR, PROVENANCE_ATTR, open_km3_file
    from ..io.hdf5.provenance import read_provenance

    with open_km3_file(path, check_layout=False) as h5:
        prov = read_provenance(h5)
        if as_json:
            from ._json import strict_dumps

            out.write(strict_dumps(prov, indent=1) + "\n")
            return
        out.write(f"{path}\n")
        attrs = h5.root._v_attrs
        user = [a for a in attrs._v_attrnamesuser if a != PROVENANCE_ATTR]
        out.write("Root attributes:\n")
        out.write(f"  {'TITLE':<16} {_value(getattr(attrs, 'TITLE', ''))}\n")
        out.writelines(f"  {name:<16} {_value(attrs[name])}\n" for name in user)
        out.write("Provenance:\n")
        if prov is None:
            out.write("  none recorded (not written by km3flow)\n")
        else:
            for key in ("writer", "km3flow", "format_version", "kid", "host", "start_time",
                        "end_time", "n_groups", "python", "numpy", "tables", "hdf5",
                        "platform"):
                if key in prov:
                    out.write(f"  {key:<16} {prov[key]}\n")
            drain = prov.get("drain")
            if isinstance(drain, dict) and drain.get("complete") is False:
                run = "an interrupted" if drain.get("interrupted") else "a failed"
                n = prov.get("n_groups")
                out.write(f"  {'status':<16} PARTIAL: {n} blob{'' if n == 1 else 's'} of {run} "
                          f"run (meant for {prov.get('filename')})\n")
            elif isinstance(drain, dict):
                out.write(f"  {'status':<16} complete\n")
            if isinstance(drain, dict):
                state = "complete" if drain.get("complete") else (
                    "INTERRUPTED" if drain.get("interrupted") else f"FAILED ({drain.get('error')})")
                out.write(f"  {'drain':<16} {state} after {drain.get('cycles')} cycles\n")
            if prov.get("argv"):
                out.write(f"  {'command':<16} {' '.join(map(str, prov['argv']))}\n")
            inputs = prov.get("input_files") or []
            out.write(f"  {'input files':<16} {len(inputs)}\n")
            out.writelines(f"    {name}\n" for name in inputs)
            pipeline = prov.get("pipeline")
            if pipeline is None:
                out.write(f"  {'pipeline':<16} not recorded\n")
            else:
                out.write(f"  {'pipeline':<16}\n")
                modules = pipeline.get("modules") if isinstance(pipeline, dict) else None
                if modules:
                    for i, m in enumerate(modules):
                        params = ", ".join(f"{k}={v!r}" for k, v in (m.get("params") or {}).items())
                        out.write(f"    {i}: {m.get('name')} ({m.get('module')})"
                                  f"{'  ' + params if params else ''}\n")
                else:
                    out.write("    " + json.dumps(pipeline) + "\n")
        out.write("Nodes:\n")
        split_groups: set[str] = set()
        for node in h5.walk_nodes("/"):
            path_ = node._v_pathname
            if path_ == "/" or node._v_parent._v_pathname in split_groups:
                continue
            if isinstance(node, tb.Group):
                if "_indices" not in node._v_children:
                    out.write(f"  {path_:<28} {'group':<12}\n")
                    continue
                split_groups.add(path_)
                cols = [c for c in node._v_children if c != "_indices"]
                order = getattr(node._v_attrs, COLUMNS_ATTR, None)
                if order is not None and sorted(order) == sorted(cols):
                    cols = list(order)  # the column order the table was written with
                nrows = node._v_children[cols[0]].nrows if cols else 0
                first = node._v_children[cols[0]] if cols else None
                filt = f" [{_filters(first)}]" if first is not None else ""
                out.write(f"  {path_:<28} {'split table':<12} {nrows} rows{filt} "
                          f"'{node._v_title}': {', '.join(cols)} (+ _indices)\n")
            elif isinstance(node, tb.Table):
                colnames = ", ".join(node.colnames)
                out.write(f"  {path_:<28} {'table':<12} {node.nrows} rows [{_filters(node)}]"
                          f" '{node.title}': {colnames}\n")
            else:
                out.write(f"  {path_:<28} {'array':<12} shape {tuple(int(s) for s in node.shape)}"
                          f" {node.dtype} [{_filters(node)}]\n")


def run(args: argparse.Namespace) -> int:
    """Describe each file; FormatError propagates to the CLI's error handling."""
    import sys

    from ..exceptions import FormatError
    from ..io.hdf5.sink import find_leftovers
    from ._notes import add_note

    for i, path in enumerate(args.files):
        if i:
            sys.stdout.write("\n")
        leftovers = find_leftovers(path)
        note = (f"temporary file{'s' if len(leftovers) > 1 else ''} of a killed run "
                f"writing it: {', '.join(leftovers)}")
        try:
            describe(path, sys.stdout, as_json=args.json)
        except FormatError as err:
            if leftovers:
                add_note(err, note)
            raise
        if leftovers and not args.json:
            sys.stdout.write(f"Leftovers:\n  {note}\n")
    return 0
