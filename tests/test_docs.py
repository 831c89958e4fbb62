"""The documentation runs: every python and bash block of README.md and docs/*.md.

Each markdown file is one session, as a reader works through it: its blocks run in order,
in a fresh folder that holds a link to the repository's ``examples/`` (the pages are read
from a clone), python blocks in one shared namespace (later blocks use what earlier ones
defined), bash blocks line by line through ``bash`` with this interpreter's ``km3flow``
and ``python`` first on the PATH. The sample files the pages use are fetched by the pages
themselves (from km3net-testdata), so the test provides nothing a reader would not have.
Markers before a block (see ``markdown_blocks``) write a file shown to the reader, or set
a block aside: ``live`` blocks are run by tests/cli/test_readme_cli.py with real servers,
``skip`` blocks (a batch farm, a fresh virtual environment) are only compiled, and counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from markdown_blocks import ROOT, Block, blocks, compile_python, markdown_files, shell_commands

SHELLS = {"bash", "sh", "shell", "console"}

#: What may be set aside with ``skip``; a new one needs a good reason (and this number).
#: Now: ./km3 (a fresh venv), the two SLURM blocks of docs/parallel.md, and the monitor's
#: serve-until-Ctrl-C commands (run with real processes and Chromium by tests/monitor).
MAX_SKIPPED = 4


def session_env() -> dict[str, str]:
    """The environment of the shell lines: this interpreter's scripts and import path."""
    bindir = str(Path(sys.executable).parent)
    path = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                PYTHONPATH=path, PYTHONUNBUFFERED="1")


def run_shell_block(block: Block, cwd: Path) -> None:
    env = session_env()
    for line, command in shell_commands(block):
        assert not command.endswith("&"), (
            f"{block.path.name}:{line}: a background command belongs in a 'live' block")
        proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, (
            f"{block.path.name}:{line}: `{command}` exited with {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")


def run_session(path: Path, cwd: Path) -> dict[str, int]:
    """Run the blocks of one markdown file in order; return counts by what was done."""
    namespace: dict = {"__name__": "__docs__"}
    done = {"python": 0, "shell": 0, "written": 0, "set aside": 0}
    for block in blocks(path):
        if block.marker == "write":
            (cwd / block.argument).write_text(block.text)
            done["written"] += 1
        elif block.marker in ("skip", "live"):
            if block.lang == "python":
                compile_python(block)
            done["set aside"] += 1
        elif block.lang == "python":
            exec(compile_python(block), namespace)
            done["python"] += 1
        elif block.lang in SHELLS:
            run_shell_block(block, cwd)
            done["shell"] += 1
    return done


@pytest.fixture
def reader_folder(tmp_path, monkeypatch):
    """A fresh working folder that looks like a clone's: ``examples/`` is there."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_markdown_page_runs_as_a_session(path, reader_folder):
    done = run_session(path, reader_folder)
    if path.name == "README.md":
        # what the README's session leaves behind, as its text says
        assert done["python"] >= 6 and done["shell"] >= 2
        for name in ("out.h5", "mixed.h5", "train.h5", "run1/summary.txt",
                     "run1/checkpoints/epoch_0003.pt"):
            assert (reader_folder / name).exists(), name


def test_the_readme_session_stops_at_a_failing_block(tmp_path, monkeypatch):
    # the runner itself: a failing block fails the session and names the page's line
    page = tmp_path / "page.md"
    page.write_text("Text\n\n```python\nx = 1\n```\n\n```python\nassert x == 2, 'no'\n```\n"
                    "\n```bash\nfalse\n```\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match="no") as info:
        run_session(page, tmp_path)
    frames = traceback.extract_tb(info.tb)
    assert any(f.filename == str(page) and f.lineno == 8 for f in frames)
    page.write_text("```bash\ntrue\nfalse   # fails\n```\n")
    with pytest.raises(AssertionError, match=r"page.md:3: `false` exited with 1"):
        run_session(page, tmp_path)


def test_blocks_set_aside_are_few_and_still_compile():
    skipped, live = [], []
    for path in markdown_files():
        for block in blocks(path):
            if block.marker == "skip":
                skipped.append(block)
            elif block.marker == "live":
                live.append(block)
            if block.marker in ("skip", "live") and block.lang == "python":
                compile_python(block)
    assert len(skipped) <= MAX_SKIPPED, [b.where for b in skipped]
    # live blocks are run by tests/cli/test_readme_cli.py, which knows only the README's
    assert live and all(b.path.name == "README.md" for b in live), [b.where for b in live]


def test_examples_named_in_the_docs_exist():
    import re

    for path in markdown_files():
        for name in re.findall(r"examples/[\w.-]+", path.read_text(encoding="utf-8")):
            assert (ROOT / name).exists(), f"{path.name} names {name}, which is not shipped"
