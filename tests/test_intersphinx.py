"""The intersphinx inventories that ``./km3 docs`` writes from ``docs/intersphinx.toml``.

The build itself (nitpicky, warnings as errors) fails on a name missing from the
inventories; these tests check that what is written is a valid Sphinx inventory whose
links are the pages the TOML names, and that a malformed entry stops with a message.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

from km3flow_intersphinx import write_inventories  # noqa: E402
from sphinx.errors import ConfigError  # noqa: E402
from sphinx.util.inventory import InventoryFile  # noqa: E402


def test_inventories_load_with_sphinx_and_link_the_named_pages(tmp_path: Path) -> None:
    source = DOCS / "intersphinx.toml"
    config = tomllib.loads(source.read_text(encoding="utf-8"))
    mapping = write_inventories(source, tmp_path)
    assert set(mapping) == set(config) >= {"python", "numpy", "tables", "uproot", "torch",
                                           "distributed", "dask_jobqueue"}
    for project, (url, path) in mapping.items():
        assert url == config[project]["url"]
        inventory = InventoryFile.loads(Path(path).read_bytes(), uri=url)
        found = {name: (role, item.uri) for role, items in inventory.data.items()
                 for name, item in items.items()}
        expected = {name: (role, url + page.replace("$", name) if page.endswith("$")
                           else url + page)
                    for name, (role, page) in config[project]["objects"].items()}
        assert found == expected


def test_rewrites_only_changed_inventories(tmp_path: Path) -> None:
    source = DOCS / "intersphinx.toml"
    path = Path(write_inventories(source, tmp_path)["numpy"][1])
    before = path.stat().st_mtime_ns
    write_inventories(source, tmp_path)
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("entry, message", [
    ('"numpy.x" = "reference/x.html"', "must be"),
    ('"numpy.x" = ["class", "reference/x.html"]', "must be"),
    ('"numpy.x" = ["py:class", "generated/$.html#$"]', "may only end the page"),
])
def test_malformed_entry_names_file_and_entry(tmp_path: Path, entry: str, message: str) -> None:
    source = tmp_path / "inv.toml"
    source.write_text(f'[numpy]\nurl = "https://numpy.org/doc/stable/"\n[numpy.objects]\n{entry}\n')
    with pytest.raises(ConfigError, match=message) as err:
        write_inventories(source, tmp_path / "out")
    assert str(source) in str(err.value) and "numpy.x" in str(err.value)


def test_url_must_end_with_slash(tmp_path: Path) -> None:
    source = tmp_path / "inv.toml"
    source.write_text('[numpy]\nurl = "https://numpy.org/doc/stable"\n[numpy.objects]\n')
    with pytest.raises(ConfigError, match=r"\[numpy\] needs url"):
        write_inventories(source, tmp_path / "out")
