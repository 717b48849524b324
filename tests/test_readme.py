"""The README's tour runs as written (its python blocks, in order, in one namespace), and the
numbers it prints are the ones it shows: each is read from the README's text and checked against
the run and against an independent computation (scipy quadrature and root finding, numpy
eigenvalues)."""

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text()


def test_readme_first_block_has_two_lines():
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", TEXT, flags=re.S | re.M)
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("python -m lowrank demo")


def printed(pattern: str) -> str:
    """The one number the README shows where ``pattern`` (a regex with one group) matches."""
    found = re.findall(pattern, TEXT)
    assert len(found) == 1, (pattern, found)
    return found[0]


def half_unit(number: str) -> float:
    """Half a unit of the last digit shown: the rounding a printed number allows."""
    decimals = len(number.split(".")[1]) if "." in number else 0
    return 0.5 * 10.0**-decimals


def gauss(f) -> float:
    """E f(z), z ~ N(0, 1), by adaptive quadrature."""
    density = lambda z: f(z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)  # noqa: E731
    return integrate.quad(density, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)[0]


def kappa_star(overlap: float) -> float:
    """Rank one, zero means, Var(m) = 1 (Mastrogiuseppe & Ostojic 2018): kappa != 0 solves
    1 = overlap E[tanh'(kappa z)]."""
    return optimize.brentq(lambda k: 1 - overlap * gauss(lambda z: 1 - np.tanh(k * z) ** 2),
                           0.1, 5.0, xtol=1e-14)


def scs_delta0(g: float) -> float:
    """Chaotic state of a random network (Sompolinsky, Crisanti & Sommers 1988), odd phi so
    Delta_inf = 0: Delta_0^2 / 2 = g^2 (E[Phi(sqrt(Delta_0) z)^2] - E[Phi(sqrt(Delta_0) z)]^2),
    Phi = log cosh."""
    lncosh = lambda x: np.logaddexp(x, -x) - np.log(2.0)  # noqa: E731

    def balance(D):
        s = np.sqrt(D)
        spread = gauss(lambda z: lncosh(s * z) ** 2) - gauss(lambda z: lncosh(s * z)) ** 2
        return 0.5 * D * D - g * g * spread

    return optimize.brentq(balance, 0.1, 10.0, xtol=1e-14)


@pytest.fixture(scope="module")
def tour() -> dict:
    code = re.findall(r"^```python\n(.*?)^```", TEXT, flags=re.S | re.M)
    assert code
    namespace: dict = {}
    for block in code:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    return namespace


def test_readme_python_snippets_run(tour):
    assert {"law", "net", "traj", "mf", "bulk", "run", "report", "results"} <= set(tour)


def test_readme_loadings_and_spectrum(tour):
    # "print(law.overlaps())  # E[n m] = [[2.]]": the covariance entry given to the law, exactly
    overlap = float(printed(r"E\[n m\] = \[\[([0-9.]+)\]\]"))
    np.testing.assert_array_equal(tour["law"].overlaps(), [[overlap]])
    # "outlier near the sample overlap n.m/N": the outlier of m n^T / N + g chi moves off the
    # overlap theta by g n^T chi m / (N theta) to first order, std g sqrt(5) / (2 sqrt(N)) = 0.013
    # here (Var n = 5, Var m = 1, N = 2000, g = 0.5): 0.1 is eight of them
    net = tour["net"]
    outliers = net.outliers()
    sample_overlap = net.n[:, 0] @ net.m[:, 0] / net.N
    assert outliers.shape == (1,) and abs(outliers[0] - sample_overlap) < 0.1
    np.testing.assert_allclose(net.overlaps(), [[sample_overlap]], rtol=1e-12)


def test_readme_simulation_and_mean_field_numbers(tour):
    exact = kappa_star(2.0)  # the law's overlap
    # "kappa* = +-1.337109 and the unstable 0"
    shown = printed(r"kappa\* = \+-([0-9.]+)")
    assert abs(exact - float(shown)) <= half_unit(shown)
    points = sorted(tour["mf"].fixed_points(), key=lambda p: p.kappa[0])
    assert [p.stable for p in points] == [True, False, True]
    np.testing.assert_allclose([p.kappa[0] for p in points], [-exact, 0.0, exact], atol=1e-10)
    # "~ +-1.337, the mean-field kappa*": N = 4000 whitened neurons, t = 50; the finite-N
    # fluctuation of kappa is of order 1/sqrt(N) = 0.016: within 0.01 of the theory
    shown = printed(r"# ~ \+-([0-9.]+), the mean-field")
    assert abs(exact - float(shown)) <= half_unit(shown)
    final = tour["traj"].kappa[:, -1, 0]
    np.testing.assert_allclose(final, [exact, -exact], atol=0.01)
    # "SCS chaos: Delta_0 = 1.9248"
    shown = printed(r"SCS chaos: Delta_0 = ([0-9.]+)")
    exact = scs_delta0(2.0)
    assert abs(exact - float(shown)) <= half_unit(shown)
    chaotic = [s for s in tour["bulk"].stationary_states() if s.chaotic]
    assert len(chaotic) == 1 and abs(chaotic[0].delta0[0] - exact) < 1e-8


def test_readme_training_numbers(tour):
    # "4 stable states plus saddles": the four memories of a trained 2-bit flip-flop
    stable = int(printed(r"# (\d+) stable states plus saddles"))
    points = tour["points"]
    assert tour["run"].converged and points.n_stable == stable and points.n_unstable > 0
    W = tour["run"].model().recurrent_weights()  # no bias, no input: h* = tanh(W h*), numpy
    for h in points.x[points.stable]:
        assert np.max(np.abs(np.tanh(W @ h) - h)) < 1e-6
        assert np.max(np.abs(np.linalg.eigvals((1 - h * h)[:, None] * W))) < 1
    # "outliers leave the unit circle one at a time": the k-th crossing is where the k-th
    # eigenvalue of m n^T / N (numpy) leaves the unit circle, at distinct checkpoints
    run, crossings = tour["run"], tour["report"].crossings()
    assert len(crossings) == len(set(crossings)) == 2

    def outside(c):
        w = run.checkpoints[c].weights
        W = w["m"].astype(float) @ w["n"].T.astype(float) / w["m"].shape[0]
        return int(np.sum(np.abs(np.linalg.eigvals(W)) > 1))

    for k, c in enumerate(crossings, start=1):
        assert outside(c) >= k and (c == 0 or outside(c - 1) < k)


def test_readme_sweep_resumes_without_recomputing(tour):
    from lowrank.sweep import run_sweep

    results = tour["results"]
    assert results.done == len(results.records) == 4 and not results.failed
    again = run_sweep(tour["spec"], tour["folder"], progress=False)  # "nothing is recomputed"
    assert again.ran == 0 and again.done == 4
