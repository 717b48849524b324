"""One set of numpy time-steppers for systems in leak form, on batches.

A system in leak form (``lowrank.dynamics.systems``) is given by its target G:

    flow  dx/dt = -x + G(x),        map  x' = G(x).

For a flow, one step of length dt is

    euler      x + dt (G(x) - x)                                    (order 1)
    exp_euler  e^{-dt} x + (1 - e^{-dt}) G(x)                       (order 1, exact leak)
    rk4        classical Runge-Kutta on F(x) = G(x) - x             (order 4)

and for a map it is x' = G(x). A target may take extra arguments held fixed within a step, such as
the input u_k of step k of a driven system, G(x, u_k): ``step(x, u_k)`` passes them to every stage.
The state may be an array of any shape (a batch of states) or a tuple
of arrays evolving together, each with its own leak: the tangent vectors of a Lyapunov computation,
(x, V) with d(x, V)/dt = -(x, V) + (G(x), DG(x) V), follow the same formulas, so the tangent map is
the exact derivative of the numerical step. The numba kernels of ``lowrank.simulate`` (noise per
trial) are separate; these steppers serve the solvers and analyses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["FLOW_METHODS", "stepper", "run"]

FLOW_METHODS = ("euler", "exp_euler", "rk4")

State = np.ndarray | tuple


def _leafwise(fun, *states):
    """Apply ``fun`` to matching arrays of states that are arrays or tuples of arrays."""
    if isinstance(states[0], tuple):
        return tuple(fun(*leaves) for leaves in zip(*states, strict=True))
    return fun(*states)


def stepper(
    target: Callable[..., State], time: str, method: str = "rk4", dt: float = 1.0
) -> Callable[..., State]:
    """One step of a flow dx/dt = -x + G(x) or of a map x' = G(x).

    Parameters
    ----------
    target : callable
        G, from a state (array or tuple of arrays), and any extra arguments held within the step,
        to a state of the same structure.
    time : {"continuous", "discrete"}
    method : {"euler", "exp_euler", "rk4"}
        Integrator of a flow (module docstring); ignored for maps.
    dt : float
        Step of a flow; ignored for maps.

    Returns
    -------
    callable
        ``step(x, *args) -> x'``, with ``args`` passed to ``target`` at every stage.
    """
    if time == "discrete":
        return target
    if time != "continuous":
        raise ValueError(f"time must be 'continuous' or 'discrete', got {time!r}")
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(FLOW_METHODS)}")
    dt = float(dt)
    if method == "euler":

        def step(x, *args):
            return _leafwise(lambda s, g: s + dt * (g - s), x, target(x, *args))

    elif method == "exp_euler":
        decay = np.exp(-dt)

        def step(x, *args):
            return _leafwise(lambda s, g: decay * s + (1.0 - decay) * g, x, target(x, *args))

    else:

        def field(x, args):
            return _leafwise(lambda g, s: g - s, target(x, *args), x)

        def ahead(x, k, h):
            return _leafwise(lambda s, d: s + h * d, x, k)

        def step(x, *args):
            k1 = field(x, args)
            k2 = field(ahead(x, k1, 0.5 * dt), args)
            k3 = field(ahead(x, k2, 0.5 * dt), args)
            k4 = field(ahead(x, k3, dt), args)
            return _leafwise(
                lambda s, a, b, c, d: s + dt / 6.0 * (a + 2.0 * b + 2.0 * c + d),
                x, k1, k2, k3, k4,
            )

    return step


def run(
    step: Callable[[State], State],
    x: State,
    n_steps: int,
    callback: Callable[[int, State], None] | None = None,
) -> State:
    """Apply ``step`` n_steps times; ``callback(k, x_k)`` after step k = 1..n_steps if given."""
    for k in range(1, int(n_steps) + 1):
        x = step(x)
        if callback is not None:
            callback(k, x)
    return x
