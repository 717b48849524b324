"""choose_populations (the resampling test of Dubreuil et al. 2022) on planted networks whose number
of populations is known, checked against brute-force simulation of the networks."""

import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import brentq

from lowrank import (
    ConvergenceWarning,
    GaussianLoadings,
    LowRankNetwork,
    MixtureLoadings,
    find_fixed_points,
)
from lowrank.populations import (
    PopulationChoice,
    choose_populations,
    count_attractors,
    fit_populations,
    resampled_counts,
)

BETA, GAIN, SPREAD = 1.5, 4.0, 0.1


def tristable_law() -> MixtureLoadings:
    """Four tight populations, m near xi_p in {(1, 1), (1, -1), (-1, -1), (-1, 1)}, n near
    GAIN xi_p, bias -BETA (an input column held at 1). In the latent coordinates a_k = xi_k . kappa
    of the two antipodal pairs the mean field decouples into a = GAIN f(a), with
    f(a) = (tanh(a - BETA) + tanh(a + BETA)) / 2 for point-like populations: f'(0) GAIN < 1 keeps 0
    stable and GAIN above the fold (2.73) adds two stable states, so each bit has three stable
    values and the network 3^2 = 9 attractors. A Gaussian spreads the bimodal +-xi pair and
    loses the folds' positions, so fewer than 4 populations should not keep all nine."""
    xi = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]], float)
    cov = SPREAD**2 * np.eye(5)
    cov[4, 4] = 0.0
    parts = [GaussianLoadings(np.r_[x, GAIN * x, -BETA], cov, rank=2, n_inputs=1) for x in xi]
    return MixtureLoadings(parts, np.full(4, 0.25))


def simulated_attractors(net: LowRankNetwork, u, n_trials=300, t_max=300.0, dt=0.1, seed=1):
    """Brute force: Euler-integrate dx/dt = -x + m n^T tanh(x) / N + I u from random states
    (kappa uniform in a box, plus noise) and cluster the end points' kappa; returns the
    distinct end states (kappa) and the largest final speed."""
    rng = np.random.default_rng(seed)
    c = net.inputs @ np.asarray(u, float)
    scale = np.abs(net.n).mean(axis=0)
    kappa0 = rng.uniform(-1.5, 1.5, (n_trials, net.rank)) * scale
    X = kappa0 @ net.m.T + c + 0.3 * rng.standard_normal((n_trials, net.N))

    def field(X):
        F = -X + (np.tanh(X) @ net.n) @ net.m.T / net.N + c
        return F + net.g * np.tanh(X) @ net.chi.T if net.has_bulk else F

    for _ in range(int(t_max / dt)):
        X += dt * field(X)
    speed = np.abs(field(X)).max()
    kappa = np.tanh(X) @ net.n / net.N
    labels = fcluster(linkage(kappa, "single"), 0.05, "distance")
    return np.array([kappa[labels == k].mean(axis=0) for k in np.unique(labels)]), speed


def rows_of(net: LowRankNetwork) -> np.ndarray:
    return np.concatenate([net.m, net.n, net.inputs], axis=1)


@pytest.fixture(scope="module")
def tristable():
    return LowRankNetwork.sample(tristable_law(), 200, seed=0, whiten=True)


def test_whitened_mixture_draws_match_every_population_exactly():
    law = tristable_law()
    rows, labels = law.sample(203, seed=3, whiten=True, return_labels=True)
    sizes = law.population_sizes(203)
    assert sizes.sum() == 203 and sizes.max() - sizes.min() <= 1
    for p, part in enumerate(law.components):
        block = rows[labels == p]
        assert len(block) == sizes[p]
        np.testing.assert_allclose(block.mean(axis=0), part.mean, atol=1e-12)
        centred = block - block.mean(axis=0)
        np.testing.assert_allclose(centred.T @ centred / len(block), part.cov, atol=1e-12)


def test_planted_network_has_nine_attractors_by_simulation(tristable):
    ends, speed = simulated_attractors(tristable, [1.0])
    assert speed < 1e-6  # every trajectory came to rest
    assert len(ends) == 9
    found = find_fixed_points(tristable, inputs=[1.0], time="continuous", n_starts=64)
    assert count_attractors(found) == 9
    ours = found.kappa[found.stable]
    distance = np.linalg.norm(ours[:, None] - ends[None], axis=2)
    assert distance.min(axis=1).max() < 1e-3  # the same nine points


@pytest.mark.slow
def test_four_populations_are_needed_and_found(tristable):
    choice = choose_populations(
        rows_of(tristable), 2, 1, observed_stable=9, time="continuous", n_networks=3,
        large_N=1000, seed=0,
    )
    assert choice.accepted and choice.n_populations == 4
    assert [e["P"] for e in choice.evidence] == [1, 2, 3, 4]
    assert [e["accepted"] for e in choice.evidence] == [False, False, False, True]
    assert choice.evidence[-1]["meanfield_stable"] == 9
    assert choice.evidence[-1]["large_N_stable"] == 9
    # independent check of the rejections: a network drawn from each rejected law, simulated
    for law in choice.fitted[:3]:
        net = LowRankNetwork.sample(law, 200, seed=5, whiten=True)
        ends, speed = simulated_attractors(net, [1.0], n_trials=200)
        assert speed < 1e-4 and len(ends) != 9
    assert "P = 4 by resampling, accepted" in choice.summary()


def test_single_gaussian_pitchfork_needs_one_population():
    """Rank one, zero means, overlap sigma_nm = 2 > 1: a pitchfork, two stable points."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    net = LowRankNetwork.sample(law, 200, seed=2, whiten=True)
    ends, speed = simulated_attractors(net, np.zeros(0), n_trials=100)
    assert speed < 1e-6 and len(ends) == 2
    assert np.allclose(ends[0], -ends[1], atol=1e-6)
    choice = choose_populations(
        rows_of(net), 1, 0, observed_stable=2, time="continuous", large_N=1000, seed=0,
        progress=True,
    )
    assert choice.accepted and choice.n_populations == 1 and len(choice.evidence) == 1
    assert isinstance(choice.loadings, GaussianLoadings)
    evidence = choice.evidence[0]
    assert evidence["resampled_stable"] == [2] * 4
    assert evidence["meanfield_stable"] == 2 and evidence["large_N_stable"] == 2


def _two_gain_rows(N=400, seed=5):
    """Rank one, two equal populations: A with n = 3 m (var m = 1), B with n independent of m
    (var m = 4); whitened so each population's sample statistics are exactly those."""
    rng = np.random.default_rng(seed)
    half = N // 2

    def white(k):
        z = rng.standard_normal((half, k))
        z -= z.mean(axis=0)
        values, vectors = np.linalg.eigh(z.T @ z / half)
        return z @ (vectors / np.sqrt(values)) @ vectors.T

    a, b = white(1), white(2)
    A = np.hstack([a, 3 * a])
    B = np.hstack([2 * b[:, :1], b[:, 1:]])
    return np.vstack([A, B])


def test_positions_decide_between_counts_that_agree():
    """One Gaussian (pooled var m = 2.5, sigma_nm = 1.5 > 1) has the network's two stable points
    but not where they are: the network's kappa* solves kappa = mean(n tanh(m kappa)) (brentq
    on the exact empirical equation), the Gaussian's 1 = 1.5 <tanh'>(2.5 kappa^2) (brentq on
    Gauss-Hermite quadrature). With the observed positions P = 2 is chosen; without them P = 1."""
    rows = _two_gain_rows()
    m, n = rows[:, 0], rows[:, 1]
    k_net = brentq(lambda k: np.mean(n * np.tanh(m * k)) - k, 0.1, 10.0, xtol=1e-12)
    z, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()

    def gaussian(k):
        return 1.5 * np.sum(w / np.cosh(np.sqrt(2.5) * k * z) ** 2) - 1.0

    k_gauss = brentq(gaussian, 0.1, 10.0, xtol=1e-12)
    error_p1 = abs(k_gauss - k_net) / k_net
    assert error_p1 > 0.1  # the count agrees, the position does not
    observed = np.array([[k_net], [-k_net]])
    kwargs = dict(observed_stable=2, time="continuous", n_networks=3, large_N=None, seed=0,
                  max_populations=3)
    by_count = choose_populations(rows, 1, 0, **kwargs)
    assert by_count.n_populations == 1 and by_count.accepted
    by_place = choose_populations(rows, 1, 0, observed_kappa=observed, **kwargs)
    first, second = by_place.evidence[:2]
    assert first["accepted"] and not first["positions_agree"]
    assert first["meanfield_position_error"] == pytest.approx(error_p1, rel=1e-4)
    assert by_place.n_populations == 2 and by_place.accepted and second["positions_agree"]
    assert second["meanfield_position_error"] <= 0.1
    with pytest.raises(ValueError, match="observed_kappa"):
        choose_populations(rows, 1, 0, observed_kappa=np.zeros((2, 2)), **kwargs)


def test_with_a_bulk_each_draw_gets_a_fresh_one():
    """Rank one + g chi (g = 0.5, below the chaotic transition): the pitchfork's two stable
    points persist (Mastrogiuseppe & Ostojic 2018); one population keeps them."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    net = LowRankNetwork.sample(law, 120, g=0.5, seed=4, whiten=True)
    ends, speed = simulated_attractors(net, np.zeros(0), n_trials=40, t_max=60.0, dt=0.2)
    assert speed < 1e-6 and len(ends) == 2
    choice = choose_populations(
        rows_of(net), 1, 0, observed_stable=2, time="continuous", g=0.5, n_networks=3, seed=0
    )
    assert choice.accepted and choice.n_populations == 1
    evidence = choice.evidence[0]
    assert evidence["resampled_stable"] == [2, 2, 2]
    assert evidence["meanfield_stable"] is None and evidence["large_N_stable"] is None


@pytest.mark.slow
def test_a_ring_is_one_attractor_with_slow_manifolds():
    """Rank two, one Gaussian with overlap 2 I: a ring by rotational symmetry (Mastrogiuseppe &
    Ostojic 2018), which N = 200 neurons break into a few stable points on a slow closed curve."""
    cov = np.zeros((4, 4))
    cov[:2, :2], cov[2:, 2:] = np.eye(2), 5 * np.eye(2)
    cov[2:, :2] = cov[:2, 2:] = 2 * np.eye(2)
    law = GaussianLoadings(np.zeros(4), cov, rank=2)
    net = LowRankNetwork.sample(law, 200, seed=0, whiten=True)
    ends, _ = simulated_attractors(net, np.zeros(0), n_trials=60, t_max=100.0, dt=0.2)
    radius = np.linalg.norm(ends, axis=1)
    assert len(ends) >= 2 and np.ptp(radius) < 0.05 * radius.mean()  # points on one circle
    found = find_fixed_points(net, time="continuous", n_starts=32, slow_manifold_tol=0.2)
    assert count_attractors(found) == 1 and found.manifolds[0].closed
    choice = choose_populations(
        rows_of(net), 2, 0, observed_stable=1, time="continuous", slow_manifold_tol=0.2,
        n_networks=3, seed=0,
    )
    assert choice.accepted and choice.n_populations == 1
    assert choice.evidence[0]["resampled_stable"] == [1, 1, 1]
    assert choice.evidence[0]["meanfield_stable"] == 1  # the mean field's exact ring


def ring_law() -> GaussianLoadings:
    """Rank two, one Gaussian, sigma_m = 1, sigma_n^2 = 5, overlap 2 I: the law is invariant
    under a common rotation of (m1, m2) and (n1, n2), so its mean field's nonzero fixed points
    form one ring (radius r: 2 <tanh'(r z)> = 1), one attractor (Mastrogiuseppe & Ostojic 2018)."""
    cov = np.zeros((4, 4))
    cov[:2, :2], cov[2:, 2:] = np.eye(2), 5 * np.eye(2)
    cov[2:, :2] = cov[:2, 2:] = 2 * np.eye(2)
    return GaussianLoadings(np.zeros(4), cov, rank=2)


def latent_attractors(net: LowRankNetwork, n_trials=48, steps=20000, dt=0.2):
    """Brute force for a network without inputs or bulk: x = m kappa, so the flow is closed in
    kappa, d kappa/dt = -kappa + n^T tanh(m kappa) / N; Euler from a circle of starts, the end
    points rounded to 1e-4 and counted."""
    angle = np.linspace(0.0, 2 * np.pi, n_trials, endpoint=False)
    kappa = 2.0 * np.c_[np.cos(angle), np.sin(angle)]
    for _ in range(steps):
        speed = np.tanh(kappa @ net.m.T) @ net.n / net.N - kappa
        kappa += dt * speed
    assert np.abs(speed).max() < 1e-10
    return np.unique(np.round(kappa, 4), axis=0)


def test_draws_that_pass_by_finite_size_luck_are_not_enough():
    """N = 100 neurons break the ring into isolated points (2 stable here, by simulation), and
    two of three whitened N = 100 draws of the fitted law break it into 2 too; but the fitted
    law is the rotation-invariant one, whose mean field has a ring (1 attractor): P = 1 passes
    the draws only by finite size, so it is returned NOT accepted, with a warning."""
    net = LowRankNetwork.sample(ring_law(), 100, seed=3, whiten=True)
    ends = latent_attractors(net)
    assert len(ends) == 2 and np.allclose(ends[0], -ends[1])
    rows = rows_of(net)
    with pytest.warns(ConvergenceWarning, match="but its mean field disagrees"):
        choice = choose_populations(
            rows, 2, 0, observed_stable=len(ends), time="continuous", max_populations=1,
            n_networks=3, large_N=None, seed=0,
        )
    np.testing.assert_allclose(choice.loadings.cov, ring_law().cov, atol=1e-10)  # isotropic
    evidence = choice.evidence[0]
    assert sorted(evidence["resampled_stable"]) == [2, 2, 4]  # the draws alone would accept
    assert evidence["resampled_accepted"] and evidence["meanfield_stable"] == 1
    assert not evidence["meanfield_agrees"] and not evidence["accepted"]
    assert choice.n_populations == 1 and not choice.accepted
    assert "mean field disagrees" in choice.summary()


def test_no_population_count_that_agrees_warns():
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    rows = law.sample(60, seed=0, whiten=True)
    with pytest.warns(ConvergenceWarning, match="no P <= 2 reproduces the 5 observed"):
        choice = choose_populations(
            rows, 1, 0, observed_stable=5, time="discrete", max_populations=2, n_networks=1,
            large_N=None,
        )
    assert not choice.accepted and len(choice.evidence) == 2
    assert choice.evidence[0]["large_N_stable"] is None


def test_a_population_too_small_to_whiten_is_refitted_with_a_floor():
    """EM gives the two far neurons a population of their own, which cannot be whitened; the
    P = 2 law tested is the size-floored one (>= dim + 2 = 4 neurons per population), with the
    two far neurons together (tests/test_populations_floor.py: a P whose floor N cannot hold is
    reported and skipped)."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    rows = np.concatenate([law.sample(60, seed=0, whiten=True), [[40, 40], [40.5, 39]]])
    em = MixtureLoadings.fit(rows, 1, 0, n_components=2, seed=0)
    assert sorted(em.population_sizes(62)) == [2, 60]
    with pytest.warns(ConvergenceWarning):
        choice = choose_populations(
            rows, 1, 0, observed_stable=9, time="discrete", max_populations=2, n_networks=1,
            large_N=None,
        )
    entry = choice.evidence[1]
    assert entry["fit"] == "size-floored CEM" and "skipped" not in entry
    assert min(entry["population_sizes"]) >= 4 == entry["min_population_size"]
    labels = choice.fitted[1].labels
    assert labels[60] == labels[61]
    assert len(entry["resampled_stable"]) == 1 and not entry["accepted"]


def test_task_score_must_be_kept():
    """A task no resampled network passes rejects every P, whatever the counts."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    rows = law.sample(60, seed=0, whiten=True)
    scores = iter([1.0, 0.0, 0.0])  # the trained network, then the draws
    with pytest.warns(ConvergenceWarning):
        choice = choose_populations(
            rows, 1, 0, observed_stable=2, time="continuous", max_populations=1, n_networks=2,
            large_N=None, task=lambda net: next(scores),
        )
    assert choice.evidence[0]["resampled_stable"] == [2, 2]
    assert choice.evidence[0]["accuracy"] == [0.0, 0.0] and not choice.accepted


def test_fit_populations_dispatch():
    rows = tristable_law().sample(200, seed=0, whiten=True)
    fixed = fit_populations(rows, 2, 1, 4, seed=0)
    assert (fixed.method, fixed.n_populations, fixed.accepted) == ("fixed", 4, True)
    one = fit_populations(rows, 2, 1, 1)
    assert isinstance(one.loadings, GaussianLoadings)
    np.testing.assert_allclose(one.loadings.mean, rows.mean(axis=0), atol=1e-12)
    bic = fit_populations(rows, 2, 1, "bic", covariance_type="full")
    assert bic.method == "bic" and bic.summary() == f"P = {bic.n_populations} (bic)"
    assert isinstance(bic, PopulationChoice) and len(repr(bic)) < 2000


def test_bad_input():
    rows = np.zeros((50, 4))
    ok = {"observed_stable": 2, "time": "continuous"}
    with pytest.raises(ValueError, match="rows must have shape"):
        choose_populations(rows, 2, 1, **ok)
    with pytest.raises(ValueError, match="rows must hold more neurons"):
        choose_populations(np.zeros((4, 4)), 2, 0, **ok)
    with pytest.raises(ValueError, match="observed_stable must be >= 0"):
        choose_populations(rows, 2, 0, observed_stable=-1, time="continuous")
    with pytest.raises(ValueError, match="unknown time"):
        choose_populations(rows, 2, 0, observed_stable=1, time="both")
    with pytest.raises(ValueError, match="inputs must have shape"):
        choose_populations(rows, 1, 2, inputs=[1.0], **ok)
    with pytest.raises(ValueError, match="accuracy needs a task"):
        choose_populations(rows, 2, 0, accuracy=0.9, **ok)
    with pytest.raises(ValueError, match="unknown populations"):
        fit_populations(rows, 2, 0, "aic")
    with pytest.raises(TypeError, match="populations must be an int"):
        fit_populations(rows, 2, 0, 2.5)
    with pytest.raises(TypeError, match="takes no arguments"):
        fit_populations(rows, 2, 0, 3, observed_stable=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="observed_stable"):
            fit_populations(rows, 2, 0, "resample", time="continuous")


@pytest.mark.parametrize("overlap, expected", [(0.5, 1), (2.0, 2)])
def test_resampled_counts_of_a_rank_one_law_follow_the_pitchfork(overlap, expected):
    """Rank one, zero means, Var m = 1, Cov(m, n) = overlap: every whitened draw has sample
    overlap n.m/N = overlap exactly, so the map h' = tanh(W h) has the origin alone below the
    pitchfork at overlap 1 and two stable points +-kappa* above it, in every draw at any N."""
    law = GaussianLoadings([0, 0], [[1, overlap], [overlap, overlap**2 + 1]], rank=1)
    counts, complete = resampled_counts(law, 150, time="discrete", n_networks=5, seed=3)
    assert counts == [expected] * 5 and complete
    assert resampled_counts(law, 150, time="discrete", n_networks=5, seed=3) == (counts, complete)


def test_resampled_counts_bad_input():
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    with pytest.raises(ValueError, match="too few to match"):
        resampled_counts(law, 2, time="discrete")
    with pytest.raises(ValueError, match="n_networks"):
        resampled_counts(law, 50, time="discrete", n_networks=0)
    with pytest.raises(ValueError, match="time"):
        resampled_counts(law, 50, time="sideways")
    with pytest.raises(ValueError, match="inputs"):
        resampled_counts(law, 50, time="discrete", inputs=[1.0])
