"""Sphinx configuration of the pyramid_tasks documentation.

Built by ``make docs`` with warnings as errors.
"""

from importlib.metadata import version as _version

import pylons_sphinx_themes

project = "pyramid_tasks"
author = "the pyramid_tasks authors"
copyright = "the pyramid_tasks authors"
release = _version("pyramid-tasks")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "examples/**/README.rst"]
root_doc = "index"
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Types only next to the parameters a docstring describes.
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"

# No network here: cross-references to Python's, Pyramid's and Celery's
# docs are written as plain links, so the build needs no inventory.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "pyramid"
html_theme_path = pylons_sphinx_themes.get_html_themes_path()
html_theme_options = {
    "github_url": "https://github.com/luhn/pyramid-tasks",
}
html_title = f"pyramid_tasks {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
