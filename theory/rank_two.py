# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

"""
Rank two: fixed points, a ring, a limit cycle and two populations
=================================================================

With ``Sigma_mm = I`` and zero means the latent dynamics read
``dkappa/dt = -kappa + Sigma_nm kappa [phi'](0, |kappa|^2)`` (Beiran et al. 2021; documentation,
theory chapter, section :ref:`theory-meanfield`). The overlap matrix ``Sigma_nm`` decides the
attractors (section :ref:`theory-attractors`): a symmetric one gives fixed points along its
eigenvectors (transverse eigenvalues ``-1 + lambda_j / lambda_i``), a multiple of the identity a
ring, and ``a I + b R_90`` a limit cycle with angular speed ``b / a``.
"""

# %%
import numpy as np

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, MixtureLoadings, simulate
from lowrank.symbolic import derive_equations


def law(S, cov_mm=None):
    """Zero means, Cov(m) = cov_mm (identity by default), Cov(n, m) = S,
    Cov(n) = S cov_mm^-1 S^T + I."""
    S = np.asarray(S, float)
    mm = np.eye(2) if cov_mm is None else np.asarray(cov_mm, float)
    cov = np.block([[mm, S.T], [S, S @ np.linalg.solve(mm, S.T) + np.eye(2)]])
    return GaussianLoadings(np.zeros(4), cov, rank=2)


derive_equations("latent", rank=2).values

# %% [markdown]
# Symmetric overlap: fixed points and saddles
# -------------------------------------------

# %%
lam = np.array([2.5, 1.6])
fps = MeanField(law(np.diag(lam))).fixed_points()
for p in fps:
    print(
        np.round(p.kappa, 5), "stable" if p.stable else "unstable", np.round(p.eigenvalues.real, 4)
    )
print("predicted transverse eigenvalues:", -1 + lam[1] / lam[0], -1 + lam[0] / lam[1])

# %% [markdown]
# Ring and limit cycle
# --------------------
# Every point of the ring has a neutral direction along it (a marginal eigenvalue, section
# :ref:`theory-stability`); the cycle's radius is the ring's for ``lambda = a``.

# %%
ring = MeanField(law(2.0 * np.eye(2))).fixed_points(n_starts=20).manifolds[0]  # one object
print("ring: dimension", ring.dimension, "closed", ring.closed, "radius", round(ring.radius, 6),
      "transversally", ring.stability)
a, b = 2.0, 0.6
cycle = MeanField(law([[a, -b], [b, a]])).simulate([0.3, 0.0], t_max=60.0, dt=0.01)
k = cycle.kappa[0, -2000:]
angle = np.unwrap(np.arctan2(k[:, 1], k[:, 0]))
print(
    "cycle radius",
    np.linalg.norm(k[-1]),
    "angular speed",
    (angle[-1] - angle[0]) / (cycle.t[-1] - cycle.t[-2000]),
    "b/a =",
    b / a,
)

# %% [markdown]
# Two populations
# ---------------
# A mixture of two populations (Beiran et al. 2021), each driving mostly one latent direction
# (its m varies mostly along that direction): the latent field sums the populations' Stein terms
# weighted by their sizes, each with its own variance ``Delta_p = kappa^T Sigma_mm,p kappa``. The
# populations decouple the two directions, so four stable states appear where one population
# alone would give a ring.

# %%
pop_a = law(np.diag([3.0, 0.0]), cov_mm=np.diag([1.0, 0.1]))
pop_b = law(np.diag([0.0, 3.0]), cov_mm=np.diag([0.1, 1.0]))
two = MixtureLoadings([pop_a, pop_b], [0.5, 0.5])
for p in MeanField(two).fixed_points():
    print(np.round(p.kappa, 4), "stable" if p.stable else "unstable")

# %% [markdown]
# Finite-N check
# --------------
# N = 4000, whitened loadings: from near the stable axis the network settles on the predicted
# fixed point of the symmetric case.

# %%
stable = [p for p in fps if p.stable and p.kappa[0] > 0][0]
net = LowRankNetwork.sample(law(np.diag(lam)), 4000, seed=4, whiten=True)
x0 = net.m @ np.array([0.5, 0.1])
traj = simulate(net, x0, t_max=60.0, dt=0.05, method="rk4", record_x=False)
print("mean field", stable.kappa, "network", traj.kappa[0, -1])
assert np.max(np.abs(traj.kappa[0, -1] - stable.kappa)) < 0.03 * np.linalg.norm(stable.kappa)
