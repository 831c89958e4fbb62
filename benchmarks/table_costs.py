"""Table costs: construction, column access and slicing, against bare numpy.

Run: PYTHONPATH=src python benchmarks/table_costs.py [--reps 15] [--n 20000]

Every case is timed with ``time.process_time`` (CPU time of this process, so the load of
other jobs on a shared machine counts less than wall time), interleaved with its limit in
the same repetition, best of ``--reps``. Small tables: 10 columns (int32/float64), 50 rows,
as a pump builds per event; big tables: the same 10 columns with 10⁶ rows.

Limits: a bare ``np.recarray`` view of a structured array (``arr.view(np.recarray)``);
``np.empty`` + assigning the 10 columns by name; a recarray's ``rec.col``; a structured
array's ``arr["col"]``; a slice of a recarray.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from km3flow.dataclasses import Table


def _cases(rows: int) -> list[tuple[str, object, object]]:
    dt = np.dtype([(f"c{i}", "f8" if i % 2 else "i4") for i in range(10)])
    arr = np.zeros(rows, dt)
    cols = {k: np.ascontiguousarray(arr[k]) for k in dt.names}
    rec = arr.view(np.recarray)
    tab = Table(arr, h5loc="/x", name="X")

    def bare_view():
        return arr.view(np.recarray)

    def table_from_array():
        return Table(arr, h5loc="/x", name="X")

    def empty_assign():
        out = np.empty(rows, dt)
        for k, v in cols.items():
            out[k] = v
        return out

    def table_from_dict():
        return Table(cols, h5loc="/x", name="X")

    def table_from_dict_dtype():
        return Table(cols, h5loc="/x", name="X", dtype=dt)

    def rec_attr():
        return rec.c3

    def table_attr():
        return tab.c3

    def arr_item():
        return arr["c3"]

    def table_item():
        return tab["c3"]

    def rec_slice():
        return rec[10:20]

    def table_slice():
        return tab[10:20]

    return [
        ("Table(structured array)", table_from_array, bare_view, "arr.view(np.recarray)"),
        ("Table(dict of columns)", table_from_dict, empty_assign, "np.empty + 10 assignments"),
        ("Table(dict, dtype=...)", table_from_dict_dtype, empty_assign,
         "np.empty + 10 assignments"),
        ("tab.col", table_attr, rec_attr, "recarray.col"),
        ('tab["col"]', table_item, arr_item, 'structured arr["col"]'),
        ("tab[10:20]", table_slice, rec_slice, "recarray[10:20]"),
    ]


def _time(f, n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        f()
    return (time.process_time() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--n", type=int, default=20000, help="calls per timing (small tables)")
    args = parser.parse_args()
    print("| case | rows | km3flow µs | limit | limit µs | ratio |")
    print("|---|---:|---:|---|---:|---:|")
    for rows, n in ((50, args.n), (1_000_000, max(args.n // 2000, 3))):
        cases = _cases(rows)
        best = {name: [np.inf, np.inf] for name, *_ in cases}
        for _ in range(args.reps):
            for name, f, lim, _ in cases:
                best[name][0] = min(best[name][0], _time(f, n))
                best[name][1] = min(best[name][1], _time(lim, n))
        for name, _, _, limname in cases:
            k, l = best[name]
            print(f"| {name} | {rows} | {k:.2f} | {limname} | {l:.2f} | {k / l:.2f} |")


if __name__ == "__main__":
    main()
