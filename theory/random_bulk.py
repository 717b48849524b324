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
A random bulk: static and chaotic mean-field theory
===================================================

``J = g chi + m n^T / N`` (Mastrogiuseppe & Ostojic 2018, Neuron 99:609; documentation, theory
chapter, section :ref:`theory-bulk`). The bulk adds a variance ``D = g^2 [phi^2]`` to every
neuron's input. Static states solve ``kappa = <n phi(x)>`` and ``D = g^2 [phi^2]`` with
``Delta = S(kappa) + D``. A static state is stable while the bulk of ``J diag(phi')`` stays inside
the unit circle, ``g^2 [phi'^2] < 1``, and while the outliers of the linearised ``(kappa, D)``
dynamics, ``eig(dF/d(kappa, D))``, stay below 1. In chaotic states the autocorrelation
``Delta(tau)`` of the input moves like a particle in a potential; energy conservation between
``tau = 0`` and ``tau = infinity`` closes the equations for ``(kappa, D_0, D_inf)``.
"""

# %%
import numpy as np

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, bifurcation_diagram, simulate
from lowrank.symbolic import derive_equations

static = derive_equations("static", rank=1)
static.values

# %%
chaotic = derive_equations("chaotic", rank=1)
chaotic.values

# %% [markdown]
# Sompolinsky, Crisanti & Sommers (1988)
# --------------------------------------
# Without structure, the trivial state loses stability at g = 1 (bulk radius g) and the chaotic
# solution ``Delta_0(g)`` grows from zero; the values are the reference values of section
# :ref:`theory-reference`.

# %%
no_structure = GaussianLoadings([0.0, 0.0], np.eye(2), rank=1)
for g in (1.1, 1.5, 2.0, 2.5, 3.0):
    s = [s for s in MeanField(no_structure, g=g).stationary_states() if s.chaotic][0]
    print(f"g = {g}: Delta_0 = {s.delta0[0]:.6f}")
onset = bifurcation_diagram(lambda g: MeanField(no_structure, g=g), "g", np.linspace(0.5, 1.5, 6))
print("chaos onset at g =", onset.events_of("chaos_onset")[0].parameter)

# %% [markdown]
# Phase diagram of Mastrogiuseppe & Ostojic, Fig. 1 (M_m = 1.1, M_n = 2)
# ----------------------------------------------------------------------
# Stationary with kappa != 0 at small g, chaotic with kappa != 0 past the first transition, chaotic
# with kappa = 0 past the second.

# %%
structured = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)
diagram = bifurcation_diagram(lambda g: MeanField(structured, g=g), "g", np.linspace(0.05, 3.0, 60))
for e in diagram.events:
    print(
        f"{e.kind:13s} g = {e.parameter:.6f}  kappa = {e.kappa[0]:+.4f}  "
        f"chaotic = {e.state.chaotic}"
    )
ax = diagram.plot()

# %% [markdown]
# Finite-N check
# --------------
# The SCS variance ``Delta_0`` at g = 2 against a network of N = 1500 neurons (time and population
# average of x^2 after the transient; finite-size and finite-time error of a few percent).

# %%
g = 2.0
predicted = [s for s in MeanField(no_structure, g=g).stationary_states() if s.chaotic][0].delta0[0]
net = LowRankNetwork.sample(no_structure, 1500, g=g, seed=2)
x0 = np.random.default_rng(0).normal(size=1500)
traj = simulate(net, x0, t_max=200.0, dt=0.1, record_every=10)
simulated = float(np.mean(traj.x[0, 50:] ** 2))
print(f"mean field Delta_0 = {predicted:.4f}, network {simulated:.4f}")
assert abs(simulated - predicted) < 0.1 * predicted
