"""Sphinx configuration of the lowrank documentation.

Build (warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery (``theory/`` notebooks and ``figures/`` scripts) is rendered from the sources without
running them. ``LOWRANK_DOCS_GALLERY=theory`` runs the theory notebooks (a few minutes) and
``LOWRANK_DOCS_GALLERY=all`` runs the figure scripts as well (tens of minutes; the Turner & Barak
figures need their data in ``../shared/data/turner2023``).

Docstring checks: numpydoc parses every docstring (a malformed section is a warning, hence an
error), but its style validation (``numpydoc_validation_checks``) is off: the package's docstrings
document parameters in prose in places, and those checks are style, not correctness.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import lowrank  # noqa: E402

project = "lowrank"
author = "the lowrank developers"
copyright = "the lowrank developers"  # noqa: A001
release = lowrank.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the site itself: equations render offline
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "generated/**/*.ipynb"]
root_doc = "index"
default_role = "literal"  # `x` in docstrings reads as code, as in most numpy-style projects
nitpicky = False

# --- autodoc / autosummary / numpydoc -------------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a module's __all__ is its public list
autosummary_imported_members = False
autodoc_typehints = "signature"
autodoc_default_options = {"member-order": "bysource"}
autodoc_inherit_docstrings = False

numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# --- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"lowrank {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}

# --- gallery ------------------------------------------------------------------------------------
# theory/: sphinx-gallery (the notebooks are jupytext percent scripts that start with an rST
# docstring). figures/: one generated page per script (its docstring, its image when
# figures/out/ holds it, its source). Nothing runs unless LOWRANK_DOCS_GALLERY says so.
_RUN = os.environ.get("LOWRANK_DOCS_GALLERY", "").strip().lower()
if _RUN not in ("", "none", "theory", "all"):
    raise ValueError(f"LOWRANK_DOCS_GALLERY must be 'theory', 'all' or unset, got {_RUN!r}")

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "theory")],
    "gallery_dirs": ["generated/gallery_theory"],
    "plot_gallery": _RUN in ("theory", "all"),
    "filename_pattern": r"\.py$",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_signature": False,
    "min_reported_time": 1e9,  # no per-example timing lines in the pages
    "write_computation_times": False,
}


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def figure_pages(run: bool = False) -> list[str]:
    """Write docs/generated/gallery_figures/: one page per figures/make_NAME.py; return names."""
    out = DOCS / "generated" / "gallery_figures"
    names = []
    for script in sorted((ROOT / "figures").glob("make_*.py")):
        name = script.stem
        if run:
            subprocess.run([sys.executable, str(script)], cwd=ROOT, check=True)
        doc = ast.get_docstring(ast.parse(script.read_text())) or name
        title, _, body = doc.strip().partition("\n")
        lines = [f".. _gallery-{name}:", "", title, "=" * len(title), "", body.strip(), ""]
        image = ROOT / "figures" / "out" / (name.removeprefix("make_") + ".png")
        if image.exists():
            (out / image.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, out / image.name)
            lines += [f".. image:: {image.name}", "   :width: 100%", ""]
        else:
            lines += [f"(Run ``python figures/{script.name}`` to draw the figure.)", ""]
        lines += [
            ".. literalinclude:: " + os.path.relpath(script, out).replace(os.sep, "/"),
            "   :language: python",
            "",
        ]
        _write_if_changed(out / f"{name}.rst", "\n".join(lines))
        names.append(name)
    header = [
        "Figures",
        "=======",
        "",
        "One script per figure, each reproducing a published result: ``python figures/NAME.py``",
        "writes its image to ``figures/out/``.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ] + [f"   {n}" for n in names]
    _write_if_changed(out / "index.rst", "\n".join(header) + "\n")
    return names


figure_pages(run=_RUN == "all")


# --- plain-text math in docstrings ----------------------------------------------------------------
# lowrank's docstrings write absolute values and norms as in plain text, |x| and |A|_F. In
# reStructuredText a bar starts a substitution reference, so every bare "|" of a docstring is
# escaped before parsing (outside inline literals, roles, literal blocks, directives and doctest
# blocks, where it is already literal or is meant as LaTeX). No substitutions are defined here, so
# nothing is lost.
_INLINE = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2})")
_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")


def _escape_line(line: str) -> str:
    parts = _INLINE.split(line)
    for i in range(0, len(parts), 2):  # even indices: outside inline markup
        parts[i] = re.sub(r"(?<!\\)\|", r"\\|", parts[i])
    return "".join(parts)


def escape_bars(lines: list[str]) -> list[str]:
    """Escape bare "|" in docstring lines (see above); literal and directive blocks are kept."""
    out, block_indent, doctest = [], None, False
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if block_indent is not None and stripped and indent <= block_indent:
            block_indent = None
        if doctest and not stripped:
            doctest = False
        if stripped.startswith(">>>"):
            doctest = True
        if block_indent is not None or doctest:
            out.append(line)
            continue
        out.append(_escape_line(line))
        if _DIRECTIVE.match(line) or line.rstrip().endswith("::"):
            block_indent = indent
    return out


def _process_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = escape_bars(lines)


def setup(app) -> None:
    # LOWRANK_DOCS_STRICT=1: docstrings as written, every rST problem reported (for fixing them)
    if os.environ.get("LOWRANK_DOCS_STRICT", "") in ("1", "true", "yes"):
        return
    app.connect("autodoc-process-docstring", _process_docstring)
