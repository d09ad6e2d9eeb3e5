"""Sphinx configuration: the docs site, built with warnings as errors (``make docs``)."""

from __future__ import annotations

import asyncinfer

project = "asyncinfer"
author = "asyncinfer developers"
release = version = asyncinfer.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "*.ipynb", ".ipynb_checkpoints"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
html_title = f"asyncinfer {release}"
# Docstrings name types by their public spelling; unresolved ones stay plain text.
nitpicky = False
suppress_warnings = ["myst.xref_missing"]
