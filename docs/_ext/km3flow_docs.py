"""Pages of the km3flow site generated from the code, so they cannot go stale.

At ``builder-inited`` this writes, into ``docs/_generated/`` (not tracked):

- ``cli.md``: every ``km3flow`` subcommand's ``--help``, from the argparse parsers of
  :func:`km3flow.cli.main.build_parser` (each subcommand module's ``add_arguments``);
- ``config.md``: the training config reference, from the dataclasses and key sets of
  :mod:`km3flow.ml.config` (types, defaults, allowed names) and the descriptions in the
  ``Attributes`` sections of their docstrings. A key without a description stops the
  build, so a new config key has to be documented.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError


def _write_if_changed(path: Path, text: str) -> None:
    # an unchanged file keeps its mtime, so Sphinx does not rebuild the page every time
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# ---- command line ------------------------------------------------------------------------

def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise ExtensionError("km3flow's parser has no subcommands")


def cli_markdown() -> str:
    from km3flow.cli.main import SUBCOMMANDS, build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps at the terminal width; fix it
    try:
        lines = [
            "# Command line",
            "",
            "Generated from the argparse parsers of `km3flow` at build time "
            "(`km3flow --help`, `km3flow COMMAND --help`). Every command accepts "
            "`-q/--quiet`, `-v/--verbose` and `--log-level LEVEL` before or after its name, "
            "and exits 0 on success, 2 on a km3flow error (one line on stderr), 1 on a bug, "
            "130 after Ctrl-C and 143 after SIGTERM.",
            "",
            "```text",
            build_parser().format_help().rstrip(),
            "```",
            "",
        ]
        for name, (_, help_text) in SUBCOMMANDS.items():
            sub = _subparser(build_parser(selected=name), name)
            lines += [f"## km3flow {name}", "", help_text[0].upper() + help_text[1:] + ".", "",
                      "```text", sub.format_help().rstrip(), "```", ""]
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(lines)


# ---- training config -----------------------------------------------------------------------

def _attributes(cls: type) -> dict[str, str]:
    """The ``Attributes`` section of a numpydoc docstring: name -> description."""
    doc = cls.__doc__ or ""
    m = re.search(r"^\s*Attributes\n\s*-+\n(.*?)(?:\n\s*\n\s*\S+\n\s*-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return {}
    out: dict[str, str] = {}
    name = None
    for line in m.group(1).splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= 4:
            name = line.strip().split(":")[0].strip()
            out[name] = ""
        elif name is not None:
            out[name] = (out[name] + " " + line.strip()).strip()
    return out


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value: Any = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "unset"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def _names(values: Any) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def config_markdown() -> str:
    from km3flow.ml import config as c

    training_doc = _attributes(c.TrainingConfig)
    output_doc = _attributes(c.OutputConfig)
    lines = [
        "# Training config reference",
        "",
        "Generated at build time from `km3flow.ml.config` (the dataclasses `TrainingConfig` "
        "and `OutputConfig`, the key sets `read_config` accepts and the allowed names), so "
        "it is the set of keys the code checks. Every key is optional except at least one "
        "`[outputs.NAME]` section (or `modifiers.label`); an unknown key is an error naming "
        "the file and the key.",
        "",
        "## `[training]`",
        "",
        "`km3flow train … --epochs N` overrides `epochs`; in Python, "
        "`read_config(path, overrides={KEY: VALUE})` overrides any of these.",
        "",
        _row("key", "type", "default", "meaning"),
        _row("---", "---", "---", "---"),
    ]
    fields = {f.name: f for f in dataclasses.fields(c.TrainingConfig)}
    missing = []
    for key in (f.name for f in dataclasses.fields(c.TrainingConfig)):
        if key not in c._TRAINING_KEYS:
            continue
        f = fields[key]
        if not training_doc.get(key):
            missing.append(f"TrainingConfig.{key}")
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        lines.append(_row(f"`{key}`", f"`{type_name}`", _default(f), training_doc.get(key, "")))
    lines += [
        "",
        "## `[optimizer]`",
        "",
        f"`name`: one of {_names(c.OPTIMIZERS)} (default `adam`) or `\"module:callable\"` "
        "(called with the model's parameters and the other keys). The other keys go to the "
        f"optimizer: {_names(sorted(k for k in c._OPTIMIZER_KEYS if k != 'name'))} "
        "(`lr` defaults to 0.001).",
        "",
        "## `[schedule]`",
        "",
        f"`name`: one of {_names(c.SCHEDULES)} (default `constant`) or "
        "`\"module:callable\"`; `interval`: `epoch` (default) or `batch`; the other keys go "
        "to the scheduler: "
        f"{_names(sorted(k for k in c._SCHEDULE_KEYS if k not in ('name', 'interval')))}.",
        "",
        "## `[outputs.NAME]`",
        "",
        "One section per model output.",
        "",
        _row("key", "type", "default", "meaning"),
        _row("---", "---", "---", "---"),
    ]
    ofields = {f.name: f for f in dataclasses.fields(c.OutputConfig)}
    allowed = {"loss": c.LOSSES, "metrics": c.METRICS, "transform": c.TRANSFORMS,
               "target": c.TARGETS}
    for key in sorted(c._OUTPUT_KEYS, key=list(ofields).index):
        f = ofields[key]
        if not output_doc.get(key):
            missing.append(f"OutputConfig.{key}")
        text = output_doc.get(key, "")
        if key in allowed:
            text += f" One of {_names(allowed[key])}, or `\"module:callable\"`." \
                if key in ("loss", "metrics") else f" One of {_names(allowed[key])}."
        if key == "labels":
            text += f" Derived labels: {_names(c.DERIVED_LABELS)}."
        default = "`[NAME]`" if key == "labels" else _default(f)
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        lines.append(_row(f"`{key}`", f"`{type_name}`", default, text.strip()))
    lines += [
        "",
        "## `[modifiers]`",
        "",
        "`label = \"module:callable\"` turns the structured labels into `{output: array}`; "
        "`sample = \"module:callable\"` turns `{input: array}` into the model's input.",
        "",
        "## The annotated example",
        "",
        "From the docstring of `km3flow.ml.config`:",
        "",
        "```text",
        (c.__doc__ or "").strip(),
        "```",
        "",
    ]
    if missing:
        raise ExtensionError("config keys without a description in the Attributes section "
                             f"of their dataclass's docstring: {', '.join(missing)}")
    return "\n".join(lines)


def generate(app: Sphinx) -> None:
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    _write_if_changed(out / "cli.md", cli_markdown())
    _write_if_changed(out / "config.md", config_markdown())


# ---- re-exported names -----------------------------------------------------------------------

def _find(name: str, modname: str | None, classname: str | None = None) -> tuple[bool, str | None]:
    """Whether ``name`` (as written in module ``modname``, class ``classname``) names an
    object of km3flow, and the full name where it is defined (``None`` for data, which has
    no ``__module__``): a re-export ``km3flow.dataclasses.Table`` or a bare ``Table`` used
    in a module resolve to ``km3flow.dataclasses.table.Table``."""
    import importlib

    name = name.lstrip("~.")
    candidates = []
    if modname and classname:
        candidates.append((modname, f"{classname}.{name}"))
    if modname:
        candidates.append((modname, name))
    if name.startswith("km3flow."):
        head, _, tail = name.rpartition(".")
        candidates.append((head, tail))
    for mod, attr in candidates:
        obj: Any = None
        parts = attr.split(".")
        try:
            obj = importlib.import_module(mod)
            for part in parts:
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            # a dotted module path whose tail is an attribute of an attribute (Header.x)
            head = mod
            try:
                while head.count("."):
                    head, _, extra = head.rpartition(".")
                    parts = [extra, *parts]
                    try:
                        obj = importlib.import_module(head)
                        break
                    except ImportError:
                        continue
                for part in parts:
                    obj = getattr(obj, part)
            except (ImportError, AttributeError):
                continue
        target = getattr(obj, "__module__", None)
        qual = getattr(obj, "__qualname__", None)
        if target and qual and target.startswith("km3flow"):
            return True, f"{target}.{qual}"
        return True, None
    return False, None


def resolve_reexports(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    exists, full = _find(target, node.get("py:module"), node.get("py:class"))
    if not exists:
        return None  # a name that does not exist: Sphinx warns, the build fails
    if full is None or full == target:
        # it exists but has no page (a module constant, a private helper): plain text
        return contnode
    domain = env.get_domain("py")
    builder = app.builder
    for role in ("class", "func", "meth", "attr", "data", "exc", "obj"):
        node["reftarget"] = full
        ref = domain.resolve_xref(env, node["refdoc"], builder, role, full, node, contnode)
        if ref is not None:
            return ref
    node["reftarget"] = target
    return contnode


# ---- autodoc fixes ------------------------------------------------------------------------------

def _signature(app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None,
               return_annotation: str | None) -> tuple[str | None, str | None] | None:
    # a dataclass field with default_factory shows as "=<factory>", which Sphinx's
    # signature parser cannot read (it then splits "dict[str, Any]" at the comma)
    if signature and "<factory>" in signature:
        return re.sub(r"\s*=\s*<factory>", "=...", signature), return_annotation
    return None


def _skip(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    # a module-level type alias (Route = tuple[...]) passes isinstance(x, type) and would
    # be documented as a class; aliases are for type checkers, not readers
    import types

    if isinstance(obj, types.GenericAlias):
        return True
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-signature", _signature)
    app.connect("autodoc-skip-member", _skip)
    app.connect("missing-reference", resolve_reexports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
