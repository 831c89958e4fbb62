"""Sphinx configuration of the km3flow documentation site (built by ``./km3 docs``).

Warnings are errors (``-W --keep-going``) and references are nitpicky: a broken
cross-reference in a docstring or page fails the build. Names of other projects (Python,
NumPy, PyTables, uproot, PyTorch, Dask) link to their documentation through intersphinx;
there is no network at build time, so the inventories are written here from
``docs/intersphinx.toml`` (see :func:`km3flow_intersphinx.write_inventories`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import km3flow  # noqa: E402

project = "km3flow"
author = "the km3flow authors"
copyright = "2026, the km3flow authors"  # noqa: A001 (Sphinx's name)
version = release = km3flow.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "km3flow_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "gallery/*.ipynb",
                    "gallery/*.py", "gallery/*.zip", "gallery/*.md5",
                    "gallery/*.json"]
templates_path = ["_templates"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# ---- API reference -------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
# no docstrings of torch/asyncio/dict methods on km3flow pages (their references are
# not resolvable here, and a method km3flow overrides should say what it does)
autodoc_inherit_docstrings = False
autoclass_content = "class"
numpydoc_show_class_members = False  # autodoc documents the members
numpydoc_xref_param_type = False     # types in Parameters sections stay text
numpydoc_validation_checks: set[str] = set()  # tests/test_api_docs.py checks docstrings

# Nitpicky: every reference must resolve, km3flow's own through autodoc and other
# projects' through intersphinx. The one exception is NumPy's private typing aliases
# (numpy._typing._…), which autodoc prints when it expands ``numpy.typing.ArrayLike`` and
# which NumPy does not document; and the fragment "collections.abc.Callable[[]" that
# Sphinx's signature parser makes of ``Callable[[], T]`` (the whole hint still links).
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"numpy\._typing\..*")]
nitpick_ignore = [("py:class", "collections.abc.Callable[[]")]

# ---- Intersphinx -----------------------------------------------------------------------
from km3flow_intersphinx import write_inventories  # noqa: E402

intersphinx_mapping = write_inventories(HERE / "intersphinx.toml",
                                        HERE / "_build" / "intersphinx")

# ---- Gallery -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "abort_on_example_error": True,
}

# ---- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"km3flow {release}"
html_static_path = ["_static"]
html_css_files = ["km3flow.css"]
# the guide's pages have no sub-pages: no empty "Section Navigation" column beside them
html_sidebars = {page: [] for page in (
    "index", "getting-started", "pipeline", "schema", "hdf5", "live", "training", "parallel",
    "porting", "architecture", "benchmarks", "_generated/*")}
html_theme_options = {
    "navigation_depth": 2,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_center": [],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
