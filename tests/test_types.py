"""The type check of ``src/km3flow`` (``py.typed`` ships, so users' checkers see our annotations).

The level is the ``[tool.mypy]`` table of ``pyproject.toml``; mypy comes with the ``dev`` extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)  # a cold run checks ~130 files (about a minute on an idle core)
def test_mypy_is_clean_on_src():
    # The repository's own .mypy_cache (gitignored) keeps repeated runs fast.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), str(ROOT / "src" / "km3flow")],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, f"mypy failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
