"""The documentation builds with warnings as errors, and says what it should.

The site is built once per session (``python -m sphinx -W --keep-going``, the gallery not
executed) into a temporary folder. The theory chapter must carry its stable section labels and its
key equations, the API reference a page for every public name, and the reference-value tables
must agree with an independent computation (scipy quadrature and root finding, nothing from
lowrank: docs/theory/reference_check.py).
"""

from __future__ import annotations

import html
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lowrank

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

THEORY_LABELS = {
    "theory-network": "network",
    "theory-meanfield": "meanfield",
    "theory-attractors": "attractors",
    "theory-latent-dynamics": "latent_dynamics",
    "theory-bulk": "bulk",
    "theory-spectra": "spectra",
    "theory-stability": "stability",
    "theory-quadrature": "quadrature",
    "theory-solvers": "solvers",
    "theory-reference": "reference_values",
    "theory-references": "references",
}

# (page, LaTeX as written in the page source) for the equations the chapter exists to state
KEY_EQUATIONS = [
    ("network", r"\kappa_r = \frac1N \sum_{j=1}^N n_{rj}\, \phi(x_j)"),
    (
        "meanfield",
        r"\mathbb{E}[n\, f(x)] = \mathbb{E}[n]\,\mathbb{E}[f(x)] + "
        r"\operatorname{Cov}(n, x)\,\mathbb{E}[f'(x)]",
    ),
    ("meanfield", r"\big(\Sigma_{n_r m,p}\, v + \Sigma_{n_r I,p}\, w\big)\, [\phi']_p"),
    ("attractors", r"\sigma_{nm}\, [\phi'](0, \kappa^{*2}) = 1"),
    ("attractors", r"-1 + \frac{\lambda_j}{\lambda_i}"),
    ("latent_dynamics", r"\frac{dv}{dt} = -v + \kappa, \qquad"),
    ("latent_dynamics", r"\frac{dw}{dt} = -w + u(t)"),
    ("bulk", r"g^2\, [\phi'^2](\mu, \Delta_0) = 1"),
    ("bulk", r"\frac{\Delta_0^2}{2} = g^2\Big([\Phi^2](0, \Delta_0) - [\Phi](0, \Delta_0)^2\Big)"),
    ("spectra", r"\sum_{k \ge 0} \frac{\theta_k}{\lambda^{k+1}}"),
    ("stability", r"|\lambda| - 1"),
    ("solvers", r"d_G = \frac{d}{1 - d \cdot \nabla \ln M(x)}"),
]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The HTML site, built with warnings as errors (gallery not executed)."""
    out = tmp_path_factory.mktemp("docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWRANK_DOCS_")}
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / "html"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    assert proc.returncode == 0, f"sphinx build failed:\n{log}"
    return out / "html"


def page_text(path: Path) -> str:
    """The text of an HTML page: tags removed (code is split into highlighted spans), unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_site_has_index_theory_and_api(site):
    for page in (
        "index.html",
        "theory/index.html",
        "guide/index.html",
        "api/index.html",
        "gallery.html",
        "generated/gallery_theory/rank_one.html",
        "generated/gallery_figures/make_mastrogiuseppe2018_fig1.html",
    ):
        assert (site / page).is_file(), page
    index = page_text(site / "index.html")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in readme.split("```")[1].strip().splitlines():  # the two install-and-run lines
        assert line in index, line
    meanfield = (site / "api/generated/lowrank.MeanField.html").read_text()
    for method in ("fixed_points", "stationary_states", "simulate", "jacobian"):
        assert f'id="lowrank.MeanField.{method}"' in meanfield, method


def test_every_public_name_has_an_api_page(site):
    names = list(lowrank._EXPORTS) + [
        "dynamics",
        "metrics",
        "sweep",
        "tasks",
        "io",
        "quadrature",
        "symbolic",
    ]
    missing = [n for n in names if not (site / f"api/generated/lowrank.{n}.html").is_file()]
    assert not missing, f"no API page for {missing} (add them to docs/api/index.rst)"


def test_theory_pages_carry_labels_and_key_equations(site):
    for label, page in THEORY_LABELS.items():
        source = (DOCS / "theory" / f"{page}.rst").read_text()
        assert source.startswith(f".. _{label}:\n"), label
        assert f'id="{label}"' in (site / "theory" / f"{page}.html").read_text(), label
    for page, latex in KEY_EQUATIONS:
        assert latex in page_text(site / "theory" / f"{page}.html"), (page, latex)
    stability = page_text(site / "theory/stability.html")
    assert "STABILITY_TOL" in stability and "10^{-8}" in stability
    assert "marginal" in stability


def test_theory_labels_cited_in_the_code_exist():
    """'docs/theory, section theory-X' and :ref:`theory-X` in code and notebooks name a label."""
    defined = set(
        re.findall(
            r"^\.\. _(theory-[\w-]+):",
            "\n".join(p.read_text() for p in (DOCS / "theory").glob("*.rst")),
            flags=re.M,
        )
    )
    assert set(THEORY_LABELS) <= defined
    cited = {}
    sources = [*ROOT.glob("lowrank/**/*.py"), *ROOT.glob("theory/*.py"), *ROOT.glob("tests/*.py")]
    for path in sources:
        if path.name == "test_docs.py":
            continue
        for label in re.findall(r"(?:section |:ref:`)(theory-[a-z][\w-]*[a-z])", path.read_text()):
            cited.setdefault(label, path.relative_to(ROOT))
    unknown = {label: str(path) for label, path in cited.items() if label not in defined}
    assert not unknown, f"cited theory sections that do not exist: {unknown}"


def test_notebooks_cite_the_docs_not_theory_md():
    for path in ROOT.glob("theory/*.py"):
        assert "THEORY.md" not in path.read_text(), path.name


def _reference_check():
    spec = importlib.util.spec_from_file_location(
        "reference_check", DOCS / "theory" / "reference_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_tables_match_an_independent_computation():
    """Every number of the reference tables, recomputed with scipy alone, to the printed digit."""
    check = _reference_check()
    source = (DOCS / "theory" / "reference_values.rst").read_text()
    for overlap in check.OVERLAPS:
        row = rf"^\s+{overlap}\s+(\S+)\s+(\S+)\s*$"
        match = re.search(row, source, flags=re.M)
        assert match, f"no row for overlap {overlap}"
        assert match.group(1) == f"{check.kappa_star(overlap):.6f}"
        assert match.group(2) == f"{check.radial_eigenvalue(overlap):.4f}"
    for g in check.GAINS:
        match = re.search(rf"^\s+{g}\s+(\S+)\s*$", source, flags=re.M)
        assert match, f"no row for g = {g}"
        assert match.group(1) == f"{check.scs_delta0(g):.6f}"
    value = f"{check.gauss(check.sech2, 0.0, 127.0):.6f}"
    assert f"[\\phi'](0, 127) = {value}" in source


def test_reference_check_agrees_with_closed_forms():
    """The checker itself against exact results: [1] = 1, [x^2](mu, D) = mu^2 + D, the radial
    eigenvalue identity sigma kappa^2 [phi'''] (from sigma [phi'] = 1), and [phi'] + [phi^2] = 1."""
    check = _reference_check()
    assert check.gauss(lambda x: 1.0, 0.3, 7.0) == pytest.approx(1.0, abs=1e-12)
    assert check.gauss(lambda x: x * x, 0.5, 3.0) == pytest.approx(3.25, rel=1e-12)
    for mu, delta in ((0.0, 0.5), (1.2, 40.0)):
        tanh2 = check.gauss(lambda x: math.tanh(x) ** 2, mu, delta)
        assert check.gauss(check.sech2, mu, delta) + tanh2 == pytest.approx(1.0, abs=1e-12)
    s = 1.6
    k2 = check.kappa_star(s) ** 2
    assert s * check.gauss(check.sech2, 0.0, k2) == pytest.approx(1.0, abs=1e-12)
    assert check.radial_eigenvalue(s) == pytest.approx(
        s * k2 * check.gauss(check.tanh3, 0.0, k2), abs=1e-12
    )


GUIDE_PAGES = [
    "loadings",
    "meanfield",
    "simulation",
    "training",
    "projection",
    "emergence",
    "sweeps",
]


@pytest.mark.slow
def test_guide_code_runs_in_order(tmp_path, monkeypatch):
    """The python blocks of the user guide, in page order, in one namespace (about a minute)."""
    blocks = []
    for name in GUIDE_PAGES:
        source = (DOCS / "guide" / f"{name}.rst").read_text()
        for block in re.findall(r"^\.\. code-block:: python\n\n((?:   .*\n|\n)+)", source, re.M):
            blocks.append("\n".join(line[3:] for line in block.splitlines()))
    assert len(blocks) >= len(GUIDE_PAGES)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/guide", "exec"), namespace)  # noqa: S102


def test_equations_render_without_a_network(site):
    """MathJax is served from the site itself (sphinx-mathjax-offline), not from a CDN."""
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    page = (site / "theory" / "prediction.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in page and "cdn.jsdelivr" not in page
