"""Sphinx configuration: Markdown pages (MyST), the CLI reference from click's help
(sphinx-click) and the API reference from the docstrings (autodoc + numpydoc).

Build (warnings are errors, as in the tests): ``sphinx-build -W --keep-going -b html docs docs/_build``.
"""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.abspath(".."))

# Importing the package and running sphinx-click must not read or write a user's output/.
os.environ.setdefault("ATLAS_OUTPUT", os.path.join(tempfile.gettempdir(), "atlas-docs-build"))

project = "Gulag, Inc. atlas"
author = "Gulag, Inc. atlas contributors"
copyright = "Gulag, Inc. atlas contributors; code MIT, data ODbL 1.0 and as named per source"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx_click",
]

# ".rst" only because numpydoc loads autosummary, which warns without it; every page is Markdown.
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "conftest.py"]

# MyST: anchors for headings down to ###, so that pages can link to sections.
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# autodoc + numpydoc: the docstrings are numpydoc; members are listed on the API page by hand.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Keep "--km" and quotes as typed: readers copy options from the pages.
smartquotes = False

html_theme = "furo"
html_title = "Gulag, Inc. atlas"
html_static_path: list[str] = []


# sphinx-click hands the commands' help to reStructuredText, but click's help is plain text:
# "a user_ layer" would be a reST link to a target "user", "*" an emphasis. Escape what reST would
# read as markup; `x` (the help's way of quoting a command) becomes literal text.
_REST_MARKUP = re.compile(r"(?<=\w)_(?=\W|$)|[*|]")
_QUOTED = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _plain_help(app, ctx, lines):
    for i, line in enumerate(lines):
        if line.lstrip().startswith(".. "):  # sphinx-click's own directives
            continue
        line = _REST_MARKUP.sub(lambda m: "\\" + m.group(0), line)
        lines[i] = _QUOTED.sub(r"``\1``", line)


def setup(app):
    for what in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{what}", _plain_help)
