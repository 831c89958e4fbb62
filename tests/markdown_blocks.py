"""The fenced code blocks of README.md and docs/*.md, for the tests that run them.

A block may be preceded (blank lines apart) by one marker comment that says how the tests
treat it; the comment is invisible on rendered pages:

``<!-- docs-test: skip (REASON) -->``
    Not run (python blocks are still compiled). Only for what needs an outside resource
    (a batch farm, a fresh virtual environment); the tests count these and keep them few.
``<!-- docs-test: live (REASON) -->``
    Needs running servers: tests/cli/test_readme_cli.py runs it with real processes on
    free ports of 127.0.0.1 instead of the documented port.
``<!-- docs-test: write FILE -->``
    The block's text is the content of FILE, written into the working folder when the
    session reaches it (e.g. a ``pipeline.toml`` shown to the reader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*docs-test:\s*(skip|live|write)\b\s*(.*?)\s*-->$")


@dataclass
class Block:
    """One fenced block: its file, the line of its first code line, language and text."""

    path: Path
    line: int
    lang: str
    text: str
    marker: str | None = None  # skip, live, write
    argument: str = ""  # the reason, or the file to write

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def markdown_files() -> list[Path]:
    """README.md and every docs/*.md page."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path`` in order, with the marker before each (if any)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path}:{i + 1}: code block is not closed")
        block = Block(path, start + 1, match.group(1).lower(), "\n".join(lines[start:end]) + "\n")
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0 and lines[k].lstrip().startswith("<!--") and "docs-test" in lines[k]:
            marker = _MARKER.match(lines[k].strip())
            if marker is None:
                raise AssertionError(f"{path}:{k + 1}: unknown docs-test marker {lines[k]!r}")
            block.marker, block.argument = marker.group(1), marker.group(2)
            if block.marker == "write" and not block.argument:
                raise AssertionError(f"{path}:{k + 1}: 'write' needs a file name")
            if block.marker in ("skip", "live") and not block.argument.startswith("("):
                raise AssertionError(f"{path}:{k + 1}: say why, in parentheses")
        found.append(block)
        i = end + 1
    return found


def shell_commands(block: Block) -> list[tuple[int, str]]:
    """The commands of a bash block as (line number, command), without comments."""
    commands = []
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            commands.append((block.line + offset, line))
    return commands


def compile_python(block: Block):
    """Compile a python block so that tracebacks name the markdown file and its line."""
    source = "\n" * (block.line - 1) + block.text
    return compile(source, str(block.path), "exec")
