"""Sphinx configuration for skae's documentation site.

Build it from the repository root with one command (no network needed)::

    python3 -m venv .venv \
        && .venv/bin/pip install -e ".[docs]" -e ./plugins/skae-extras \
        && .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

The site uses numpydoc, autosummary, sphinx-gallery, myst-parser (for the
Markdown pages in docs/) and pydata-sphinx-theme. There is no intersphinx: the
build never reaches the network. docs/_ext/skae_docs.py lists the registered
plugins, checks that docs/api.rst covers every public name, and adds checks of
its own to numpydoc's validation.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import torch

import skae

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "examples"))

# The gallery runs in this process: one thread (the project's tiny models are
# fastest that way, and CI shares two cores), no figure windows.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

project = "skae"
author = "the skae developers"
copyright = "the skae developers"
version = release = skae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "skae_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
# Pages that other engineers are writing (docs/generative.md, outliers.md,
# scaling.md) are picked up by glob patterns in user_guide/index.md; until a
# page lands its pattern matches nothing, which is not an error.
suppress_warnings = ["toc.empty_glob"]

# -- MyST (the Markdown pages) -----------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # "[...](#how-errors-surface)" links to headings

# -- autodoc, autosummary, numpydoc ------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it better
add_module_names = False
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Every public name (the classes and functions in skae.__all__ and in the
# public submodules) needs a docstring (GL08) with an Examples section (EX01).
# Methods and attributes documented on a class page need a docstring
# (skae_docs checks that, since EX01 does not apply to them: scikit-learn's
# methods carry no examples, and the class's example shows them in use).
numpydoc_validation_checks = {"GL08", "EX01"}
numpydoc_validation_exclude = {
    r"^skae(\.\w+)*\.[A-Z]\w*\.[a-z_]\w*$",  # a class's methods and attributes
}

# -- sphinx-gallery ----------------------------------------------------------
# Examples of estimators that have not landed yet are left out until they do:
# example file -> the module it needs.
NEEDS = {"plot_11_outliers.py": "skae.outliers", "plot_12_conditional_vae.py": "skae"}
NEEDS_NAME = {"plot_12_conditional_vae.py": "ConditionalVAE"}


def _missing(example: str) -> bool:
    import importlib

    try:
        module = importlib.import_module(NEEDS[example])
    except ModuleNotFoundError:
        return True
    return not hasattr(module, NEEDS_NAME.get(example, "__name__"))


_skipped = [name for name in NEEDS if _missing(name)]

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": "|".join(
        [r"__init__\.py", r"/_"] + [re.escape(name) for name in _skipped]
    ),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "min_reported_time": 1,
    # "Examples using X" on each API page (the templates' minigallery).
    "doc_module": ("skae",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_static_path = ["_static"]
html_css_files = ["skae.css"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "logo": {"text": "skae"},
}
# Pages with no children get no (empty) left-hand sidebar.
html_sidebars = {
    name: []
    for name in (
        "index",
        "changelog",
        "plugins",
        "plugin_list",
        "architecture",
        "benchmarks",
        "user_guide/getting_started",
    )
}
