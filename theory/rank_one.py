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
Rank one: the latent equation, the pitchfork at overlap 1, and a finite-N check
===============================================================================

The network is ``dx/dt = -x + m n^T phi(x) / N`` with the latent variable
``kappa = n . phi(x) / N`` (documentation, theory chapter, section :ref:`theory-network`).
Started in the span of ``m``, the state stays there, ``x = m kappa``, and the latent variable
obeys ``dkappa/dt = -kappa + <n phi(m kappa)>``. Stein's lemma
``E[n f(m)] = mu_n E f + Cov(n, m) E f'`` turns the population average into Gaussian averages
``[f](mu, Delta)`` (Beiran et al. 2021; section :ref:`theory-meanfield`). ``lowrank.symbolic``
derives the equation:
"""

# %%
import numpy as np
import sympy as sp

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, bifurcation_diagram, simulate
from lowrank.symbolic import derive_equations

eq = derive_equations("latent", rank=1)
G = eq.values[0]
G

# %% [markdown]
# For zero means and unit variance of m, only the overlap sigma_nm survives:
# ``dkappa/dt = -kappa + sigma_nm kappa [phi'](0, kappa^2)``.

# %%
params = {str(p): p for p in eq.parameters}
zero_mean = G.subs(
    {params["mu_m1_1"]: 0, params["mu_n1_1"]: 0, params["s_m1m1_1"]: 1, params["alpha_1"]: 1}
)
zero_mean

# %% [markdown]
# Linearising at kappa = 0: ``[phi'](0, 0) = 1``, so the origin's eigenvalue is
# ``-1 + sigma_nm`` and a pitchfork appears at ``sigma_nm = 1`` (section
# :ref:`theory-attractors`). The Jacobian (exact, through the heat-equation rules of the
# Gaussian-average symbols) gives the radial eigenvalue
# ``-1 + sigma_nm ([phi'] + kappa^2 [phi'''])``:

# %%
kappa = eq.unknowns[0]
sp.simplify(sp.diff(zero_mean, kappa))

# %% [markdown]
# The pitchfork, numerically
# --------------------------
# The engine locates the branch point to 1e-6 and follows the two symmetric branches. The values
# of kappa* and of the radial eigenvalue printed below are the reference values of section
# :ref:`theory-reference`.


# %%
def law(overlap):
    return GaussianLoadings([0.0, 0.0], [[1.0, overlap], [overlap, overlap**2 + 1.0]], rank=1)


diagram = bifurcation_diagram(
    lambda s: MeanField(law(s)), "overlap sigma_nm", np.linspace(0.5, 3.0, 26)
)
pitchfork = diagram.events_of("branch_point")[0].parameter
print(f"pitchfork at sigma_nm = {pitchfork:.8f}")
for s in (1.2, 1.5, 2.0, 3.0):
    fp = MeanField(law(s)).fixed_points()[-1]
    print(
        f"sigma_nm = {s}: kappa* = {fp.kappa[0]:.6f}, "
        f"radial eigenvalue {fp.eigenvalues[0].real:.4f}"
    )

# %%
ax = diagram.plot()

# %% [markdown]
# Finite-N check
# --------------
# A network of N = 4000 neurons with whitened loadings (sample means and covariances equal to the
# law) settles at the predicted kappa*; the residual difference is the ``O(1/sqrt(N))``
# fluctuation of the nonlinear sample averages.

# %%
overlap = 2.0
predicted = MeanField(law(overlap)).fixed_points()[-1].kappa[0]
net = LowRankNetwork.sample(law(overlap), 4000, seed=1, whiten=True)
traj = simulate(net, 0.5 * net.m[:, 0], t_max=40.0, dt=0.05, method="rk4", record_x=False)
simulated = traj.kappa[0, -1, 0]
print(f"mean field {predicted:.4f}, network {simulated:.4f}")
assert abs(simulated - predicted) < 0.025 * predicted
assert abs(pitchfork - 1.0) < 1e-6
