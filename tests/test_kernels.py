"""The compiled elementwise functions against mpmath and the normal law."""

import mpmath
import numpy as np
import pytest
from numba import njit
from scipy import stats

from lowrank._kernels.mathfn import normal, tanh


@njit
def _tanh_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = tanh(x[i])
    return out


@njit
def _normals(key, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = normal(key, np.uint64(i))
    return out


def test_tanh_relative_error_below_1e_15_against_mpmath():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.standard_normal(3000) * 4,
        np.logspace(-300, 1.4, 400), -np.logspace(-30, 1.4, 200),
        [0.0, 18.9, 19.1, 20.0, 21.0, 700.0, -1e300, 5e-324],
    ])
    mpmath.mp.dps = 40
    exact = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x])
    ours = _tanh_all(x)
    rel = np.abs(ours - exact) / np.maximum(np.abs(exact), np.finfo(float).tiny)
    assert rel.max() < 1e-15
    assert np.all(np.abs(ours) <= 1.0)
    assert np.array_equal(np.sign(ours), np.sign(x))


def test_counter_based_normals_are_standard_normal_and_independent():
    for key in (1, 2, 2**63 + 12345):
        z = _normals(np.uint64(key), 200_000)
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert abs(z.mean()) < 5 / np.sqrt(z.size)
        assert z.var() == pytest.approx(1.0, abs=5 * np.sqrt(2 / z.size))
        assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(z.size)
    a, b = _normals(np.uint64(1), 50_000), _normals(np.uint64(2), 50_000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)
