"""The examples in km3flow's docstrings run (what ``pytest --doctest-modules`` would do).

A test rather than ``--doctest-modules`` in the configuration: ``km3flow test`` and
``./km3 test`` hand pytest the tests/ folder, so options that collect from src/ would not
apply there. Modules are found by reading the source (nothing is imported at collection);
each runs in a fresh folder, as the examples may write files. An example that needs a live
server is marked ``# doctest: +SKIP``; those are counted and kept few.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
from pathlib import Path

import pytest

import km3flow

PACKAGE = Path(km3flow.__file__).resolve().parent
#: Docstring examples set aside with +SKIP (a live dispatcher): keep this number small.
MAX_SKIPPED = 1


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = {t.name: t for t in finder.find(module, name) if t.examples}
    # classes re-homed to their package (Table.__module__ is "km3flow.dataclasses") are
    # skipped by the finder's module check: look at them here
    for attr, value in vars(module).items():
        home = getattr(value, "__module__", None) or ""
        if (inspect.isclass(value) or inspect.isfunction(value)) and \
                name.startswith(home + ".") and home.startswith("km3flow"):
            for test in finder.find(value, f"{name}.{attr}", module=False,
                                    globs=vars(module).copy()):
                if test.examples:
                    tests.setdefault(test.name, test)
    tests = list(tests.values())
    assert tests, f"{name} has '>>>' in its source but no docstring examples were found"
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


def test_skipped_docstring_examples_are_few():
    skipped = sum(path.read_text(encoding="utf-8").count("doctest: +SKIP")
                  for path in PACKAGE.rglob("*.py"))
    assert skipped <= MAX_SKIPPED
