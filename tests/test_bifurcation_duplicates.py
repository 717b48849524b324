"""Continuation along an interpolated path of loading laws (as ``continue_prediction`` runs it):
each branch once, branch points only where an eigenvalue crosses, checked against ground truth
computed here with numpy, scipy quad and brentq.

Rank two, one zero-mean Gaussian population, m ~ N(0, I), n = C m + noise, so that sigma_nm = C
(C[r, q] = E[n_r m_q]). By Stein's lemma kappa = E[n phi(m . kappa)] = C kappa [phi'](0, Delta),
Delta = |kappa|^2 (Mastrogiuseppe & Ostojic 2018; Beiran et al. 2021): the origin is a fixed point
with linearisation C phi'(0) = C, and it has a pitchfork where the largest eigenvalue of C(s)
crosses 1; the side branches are kappa = +-r v with C v = lambda v and lambda [phi'](0, r^2) = 1.
The law's covariance is interpolated linearly in s in [0, 1] and ``build`` raises outside [0, 1],
as in ``lowrank.emergence_timing.continue_prediction``: a branch must reach the ends of the range
(where it used to stop 1e-9 short, so that the multi-start solve at s = 1 started every branch a
second time), and a branch that meets the pitchfork from its side must locate it there (it used
to report a second branch point at s = 0.600032 on kappa = 0, where nothing crosses).
"""

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from lowrank import GaussianLoadings, MeanField, bifurcation_diagram
from lowrank._checks import ConvergenceWarning
from lowrank.bifurcation import Continuation

# sigma_nm at s = 0 and s = 1: one eigenvalue crosses 1 on the way, the other stays below
PATHS = {
    "generic": (np.array([[0.4, 0.2], [0.0, 0.3]]), np.array([[1.4, 0.2], [0.3, 0.5]])),
    # the case reported: (m1, n1) covariance [[1, .4], [.4, .8]] -> [[1, 1.4], [1.4, 2.6]]
    "diagonal": (np.diag([0.4, 0.5]), np.diag([1.4, 0.5])),
    # O(2)-symmetric: a double eigenvalue crosses 1 and a ring of fixed points is born
    "ring": (0.4 * np.eye(2), 1.4 * np.eye(2)),
}
VALUES = np.linspace(0.0, 1.0, 6)


def row_covariance(C: np.ndarray) -> np.ndarray:
    """Covariance of the rows (m1, m2, n1, n2) with m ~ N(0, I), n = C m + 0.8 noise."""
    return np.block([[np.eye(2), C.T], [C, C @ C.T + 0.64 * np.eye(2)]])


def overlap(s: float, path: str) -> np.ndarray:
    a, b = PATHS[path]
    return (1 - s) * a + s * b


def build_for(time: str, path: str):
    a, b = PATHS[path]

    def build(s: float):
        if not 0.0 <= s <= 1.0:  # no law off the path, as in continue_prediction
            raise ValueError(f"s must lie in [0, 1], got {s}")
        cov = (1 - s) * row_covariance(a) + s * row_covariance(b)
        return MeanField(GaussianLoadings(np.zeros(4), cov, rank=2), time=time), np.zeros(0)

    return build


def dphi(delta: float, order: int = 1) -> float:
    """[phi'](0, delta) (order 1) or [phi'''](0, delta) (order 3) for phi = tanh, by quadrature."""
    s = math.sqrt(delta)

    def f(z):
        t = math.tanh(s * z)
        d = 1 - t * t if order == 1 else -2 * (1 - t * t) * (1 - 3 * t * t)
        return d * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return quad(f, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)[0]


def crossing(path: str) -> float:
    """s* where the largest eigenvalue of sigma_nm(s) crosses 1."""
    top = lambda s: np.max(np.linalg.eigvals(overlap(s, path)).real) - 1.0  # noqa: E731
    return brentq(top, 0.0, 1.0, xtol=1e-15)


def side_state(s: float, path: str) -> np.ndarray:
    """r v: C v = lambda v (lambda the largest eigenvalue), lambda [phi'](0, r^2) = 1."""
    values, vectors = np.linalg.eig(overlap(s, path))
    k = int(np.argmax(values.real))
    v = vectors[:, k].real / np.linalg.norm(vectors[:, k].real)
    r = brentq(lambda r: values[k].real * dphi(r * r) - 1.0, 1e-3, 5.0, xtol=1e-15)
    return r * v


def critical_rate(kappa: np.ndarray, s: float, path: str) -> float:
    """Smallest |eigenvalue| of the Jacobian of kappa -> C kappa [phi'](|kappa|^2) - kappa:
    C [phi'] + 2 C kappa kappa^T d[phi']/dDelta - I, with d[phi']/dDelta = [phi''']/2."""
    C, delta = overlap(s, path), float(kappa @ kappa)
    J = C * dphi(delta) + np.outer(C @ kappa, kappa) * dphi(delta, 3) - np.eye(2)
    return float(np.min(np.abs(np.linalg.eigvals(J))))


@pytest.mark.parametrize(
    "time, path", [("continuous", "diagonal"), ("discrete", "diagonal"), ("continuous", "generic")]
)
def test_interpolated_path_has_each_branch_once_and_one_branch_point(time, path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # nothing unresolved
        d = bifurcation_diagram(build_for(time, path), "s", VALUES)
    s_star = crossing(path)
    assert d.unresolved == []
    (bp,) = d.events  # the pitchfork, and nothing where no eigenvalue crosses
    assert bp.kind == "branch_point" and bp.kernel_dimension == 1
    assert abs(bp.parameter - s_star) < 1e-8 and np.max(np.abs(bp.kappa)) < 1e-6
    assert critical_rate(bp.kappa, bp.parameter, path) < 1e-7
    # one trivial branch over the whole range; two side branches (one per sign) from s*
    trivial = [b for b in d.branches if np.max(np.abs(b.kappa)) < 1e-8]
    side = [b for b in d.branches if np.max(np.abs(b.kappa)) >= 1e-8]
    assert len(trivial) == 1 and len(side) == 2 and len(d.branches) == 3
    assert trivial[0].parameter[0] == 0.0 and trivial[0].parameter[-1] == 1.0
    kappa_true = side_state(1.0, path)
    ends = []
    for b in side:
        assert b.origin == "branch_point" and abs(b.parameter[0] - s_star) < 1e-8
        assert np.all(b.parameter >= s_star - 1e-8) and b.parameter[-1] == 1.0
        ends.append(b.kappa[-1])
    ends.sort(key=lambda k: float(k @ kappa_true))
    np.testing.assert_allclose(ends, [-kappa_true, kappa_true], atol=1e-8)
    # every state at each value once: at s = 1 the origin and +-r v, nothing twice
    at_one = [b.kappa[i] for b in d.branches for i in np.flatnonzero(b.parameter == 1.0)]
    assert len(at_one) == 3
    for v in VALUES[1:-1]:
        if abs(v - s_star) < 1e-6:
            continue  # the three states coincide at the pitchfork
        expected = 1 if v < s_star else 3
        assert sum(int(np.sum(b.parameter == v)) for b in d.branches) == expected


def test_ring_born_on_the_interpolated_path_is_one_branch():
    """sigma_nm(s) = (0.4 + s) I: a double branch point at s = 0.6 and one branch on the ring
    1.4 [phi'](0, r^2) = 1 at s = 1 (it used to be found twice, with a fold at its start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        d = bifurcation_diagram(build_for("continuous", "ring"), "s", VALUES)
    (bp,) = d.events
    assert bp.kind == "branch_point" and bp.kernel_dimension == 2
    assert abs(bp.parameter - crossing("ring")) < 1e-8 and np.max(np.abs(bp.kappa)) < 1e-8
    trivial, ring = d.branches
    assert np.max(np.abs(trivial.kappa)) < 1e-8
    assert trivial.parameter[0] == 0.0 and trivial.parameter[-1] == 1.0
    assert ring.manifold_dimension == 1 and ring.parameter[-1] == 1.0
    assert abs(np.linalg.norm(ring.kappa[-1]) - np.linalg.norm(side_state(1.0, "ring"))) < 1e-8


def test_branch_through_the_pitchfork_locates_it_on_itself():
    """Continued from a side state, a branch runs through the pitchfork onto the other side; the
    branch point is where it meets kappa = 0 (Newton on the old hyperplane t_A . (z - z_A) = s
    went to the trivial branch beside it), and the trivial branch starts there."""
    path = "generic"
    build = build_for("continuous", path)
    cont = Continuation(build, VALUES, [])
    mf, inputs = build(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        states = mf.stationary_states(inputs, seed=0)
    (start,) = [s for s in states if s.kappa @ side_state(1.0, path) > 0.1]
    cont._continue_state(start, 1.0)
    while cont._switches:
        cont._switch(cont._switches.pop(0))
    cont._finish()
    s_star = crossing(path)
    assert cont.unresolved == []
    (bp,) = cont.events
    assert bp.kind == "branch_point" and abs(bp.parameter - s_star) < 1e-8
    assert np.max(np.abs(bp.kappa)) < 1e-6 and critical_rate(bp.kappa, bp.parameter, path) < 1e-7
    through = cont.branches[0]  # from +r v at s = 1 through the pitchfork to -r v at s = 1
    assert through.origin == "discovery" and through.parameter.min() == pytest.approx(s_star)
    assert through.parameter[0] == through.parameter[-1] == 1.0
    ends = sorted([through.kappa[0], through.kappa[-1]], key=lambda k: float(k @ start.kappa))
    kappa_true = side_state(1.0, path)
    np.testing.assert_allclose(ends, [-kappa_true, kappa_true], atol=1e-8)
    # the trivial branch from the branch point, both ways (one branch per direction)
    trivial = cont.branches[1:]
    assert len(trivial) == 2 and all(np.max(np.abs(b.kappa)) < 1e-8 for b in trivial)
    assert sorted(b.parameter[-1] for b in trivial) == [0.0, 1.0]


@pytest.mark.slow
def test_chaotic_side_branches_once_up_to_their_onset():
    """Mastrogiuseppe & Ostojic 2018 (M_m = 1.1, M_n = 2) over g in [0.05, 3] (the gallery's
    diagram): the chaotic side branches end at their chaos onset with a last step across a value
    where the multi-start solve runs; their sample there must be found (D_0 - D_inf interpolated,
    not its logarithm), or the state is continued a second time. Every state once at each value."""
    law = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)
    values = np.linspace(0.05, 3.0, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        d = bifurcation_diagram(lambda g: MeanField(law, g=g), "g", values)
    assert d.unresolved == [] and len([b for b in d.branches if b.chaotic]) == 3
    for v in values:
        states = [
            np.concatenate([[b.chaotic], s.kappa, s.delta0, s.delta_inf])
            for b in d.branches
            for p, s in zip(b.parameter, b.states, strict=True)
            if p == v
        ]
        for i, a in enumerate(states):
            assert all(np.max(np.abs(a - b)) > 1e-6 for b in states[i + 1 :])
