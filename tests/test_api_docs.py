"""Every public function and class of km3flow has a docstring (the API reference shows them).

Public means: a module whose dotted name has no part starting with ``_``, and in it the
names of ``__all__`` (where the module defines one) or else every name not starting with
``_`` that is a function or class defined in that module (not imported into it); of a
public class, every public method and property it defines itself, except overrides of a
base class's (``process``, ``configure``, ``forward``: the base documents them).
``docs/conf.py`` builds the API reference from the same modules with warnings as errors, so
a broken reference in a docstring fails ``./km3 docs``; this test fails on a missing
docstring.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

import km3flow

#: Subpackages of the reference: everything of km3flow except the command line, whose
#: modules (``add_arguments``/``run`` per subcommand) are documented by their ``--help``
#: on the generated command-line page.
NOT_API = ("km3flow.cli",)


def public_modules() -> list[str]:
    names = ["km3flow"]
    for info in pkgutil.walk_packages(km3flow.__path__, "km3flow."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.name.startswith(NOT_API):
            continue
        names.append(info.name)
    return sorted(names)


def _defined_here(obj: object, module: types.ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _overrides(cls: type, attr: str) -> bool:
    """Whether ``cls.attr`` overrides a base class's (``process`` of a Module, ``forward``
    of a torch module): the base documents the contract, as the reference shows."""
    return any(attr in vars(base) for base in cls.__mro__[1:] if base is not object)


def public_objects(modname: str) -> list[tuple[str, object]]:
    module = importlib.import_module(modname)
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    else:
        names = [n for n in vars(module) if not n.startswith("_")]
    found = []
    for name in names:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType) or isinstance(obj, types.GenericAlias):
            continue  # subpackages are checked as modules; type aliases have no docstring
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants: documented by comments and the page of their module
        if not hasattr(module, "__all__") and not _defined_here(obj, module):
            continue  # imported for use here, documented where it is defined
        found.append((f"{modname}.{name}", obj))
        if inspect.isclass(obj) and _defined_here(obj, importlib.import_module(obj.__module__)):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or _overrides(obj, attr):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member) or isinstance(member, property):
                    found.append((f"{modname}.{name}.{attr}", member))
    return found


def _doc(obj: object) -> str:
    # inspect.getdoc would inherit a base class's docstring; the name's own is wanted
    return (getattr(obj, "__doc__", None) or "").strip()


@pytest.mark.parametrize("modname", public_modules())
def test_public_module_and_names_have_docstrings(modname):
    module = importlib.import_module(modname)
    assert (module.__doc__ or "").strip(), f"module {modname} has no docstring"
    missing = [name for name, obj in public_objects(modname) if not _doc(obj)]
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_the_walk_sees_every_subpackage_of_the_reference():
    # the check must not pass by finding nothing
    mods = public_modules()
    for sub in ("core", "dataclasses", "io", "calib", "controlhost", "ml", "parallel",
                "modules", "monitor", "mc", "math", "reco"):
        assert f"km3flow.{sub}" in mods, sub
    assert len(mods) > 50
    assert sum(len(public_objects(m)) for m in mods) > 300


def test_a_missing_docstring_is_found(tmp_path, monkeypatch):
    # the checker itself, on a module made for it
    (tmp_path / "km3flow_probe.py").write_text(
        '"""A probe."""\n\n\ndef documented():\n    """Yes."""\n\n\ndef bare():\n    pass\n\n\n'
        'class Thing:\n    """A thing."""\n\n    def method(self):\n        pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    names = {n for n, o in public_objects("km3flow_probe") if not _doc(o)}
    assert names == {"km3flow_probe.bare", "km3flow_probe.Thing.method"}
