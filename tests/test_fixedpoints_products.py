"""The dense products of the matrix-free fixed-point search at N >= 512 (``lowrank._kernels.
products``, the tiled kernel for a few rows) and the certified eigenvalues whose probes share
their GEMMs with the Arnoldi steps: against numpy's BLAS product, numpy's residual and dense
eigenvalues, and the roots scipy.optimize.root (MINPACK hybrj) reaches."""

import numpy as np
import pytest
from scipy.optimize import root
from threadpoolctl import threadpool_limits

import lowrank.fixedpoints as fixedpoints
from lowrank._kernels import products
from lowrank.fixedpoints import find_fixed_points


@pytest.mark.parametrize("M", [513, 600])
def test_rows_times_transpose_matches_numpy(M):
    """Every row count 1..17 (padded tiles, the two-row tile, BLAS beyond MAX_ROWS), an odd and an
    even number of rows of W, a V that is not contiguous: numpy's V @ W.T to rounding."""
    N = 520
    assert M * N >= products.MIN_SIZE  # the kernel's sizes, not only BLAS's
    rng = np.random.default_rng(0)
    W = rng.standard_normal((M, N))
    big = rng.standard_normal((17, 2 * N))
    for k in range(1, 18):
        for V in (big[:k, :N].copy(), big[:k, ::2]):
            out = products.rows_times_transpose(V, W)
            assert out.shape == (k, M)
            np.testing.assert_allclose(out, V @ W.T, rtol=0, atol=1e-12 * np.sqrt(N))
    # other shapes go to numpy unchanged
    np.testing.assert_allclose(products.rows_times_transpose(big[0, :N], W), W @ big[0, :N])
    small = W[:20, :20]
    np.testing.assert_array_equal(products.rows_times_transpose(big[:3, :20], small),
                                  big[:3, :20] @ small.T)


def planted(N, bulk, seed):
    rng = np.random.default_rng(seed)
    xi = np.sign(rng.standard_normal((N, 2)))
    return 2.0 * xi @ xi.T / N + bulk * rng.standard_normal((N, N)) / np.sqrt(N), xi


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_dense_n520_against_scipy_and_numpy(time, monkeypatch):
    """N = 520, planted rank two plus a bulk of gain 0.5, solved matrix-free with the kernel's
    products and the Arnoldi eigenvalues (their certificates riding along): each point is a root
    by numpy's residual; the points are exactly the distinct roots scipy's hybrj reaches from
    the planted patterns a xi_1 + b xi_2 (a, b in {-1, 0, 1}; five of them, the other four
    giving the negated roots: R(-x) = -R(x) without a bias); every eigenvalue computed
    is one of numpy's, the rest (NaN) are stable by numpy, and the stability classes and
    unstable counts are numpy's."""
    N = 520
    W, xi = planted(N, 0.5, seed=7)
    monkeypatch.setattr(fixedpoints, "_DENSE_EIG_MAX_N", 100)
    fp = find_fixed_points(W, time=time, seed=0, n_starts=16)
    assert fp.method == "matrix-free" and fp.converged
    if time == "continuous":
        def residual(x):
            return W @ np.tanh(x) - x

        def jacobian(x):
            return W * (1 - np.tanh(x) ** 2) - np.eye(N)

        scale = 2.0
    else:
        def residual(h):
            return np.tanh(W @ h) - h

        def jacobian(h):
            return (1 - np.tanh(W @ h) ** 2)[:, None] * W - np.eye(N)

        scale = 0.9
    assert max(np.max(np.abs(residual(x))) for x in fp.x) < fp.tol
    with threadpool_limits(1):
        roots = []
        for a, b in ((0, 0), (1, 0), (0, 1), (1, 1), (1, -1)):
            sol = root(residual, scale * (a * xi[:, 0] + b * xi[:, 1]), jac=jacobian, tol=1e-13)
            assert sol.success and np.max(np.abs(residual(sol.x))) < 1e-10
            for x in (sol.x, -sol.x):
                if all(np.max(np.abs(x - r)) > 1e-6 for r in roots):
                    roots.append(x)
        assert len(roots) >= 5
        assert len(fp) == len(roots)
        for r in roots:
            assert np.min(np.max(np.abs(fp.x - r), axis=1)) < 1e-8
        full = [np.linalg.eigvals(jacobian(x) + (np.eye(N) if time == "discrete" else 0.0))
                for x in fp.x]
    for row, values in zip(fp.eigenvalues, full, strict=True):
        rates = values.real if time == "continuous" else np.abs(values) - 1.0
        computed = row[~np.isnan(row)]
        assert computed.size >= 1
        for value in computed:
            assert np.min(np.abs(values - value)) < 1e-8
        # everything not computed is stable: at most len(computed) rates are not below -tol
        assert np.count_nonzero(rates >= -fp.stability_tol) <= computed.size
    unstable = [np.count_nonzero((v.real if time == "continuous" else np.abs(v) - 1.0)
                                 > fp.stability_tol) for v in full]
    assert fp.n_unstable_directions.tolist() == unstable
    assert fp.stability.tolist() == np.where(np.array(unstable) > 0, "unstable",
                                             "stable").tolist()
    assert np.any(np.isnan(fp.eigenvalues))  # the certificate spared a bulk
