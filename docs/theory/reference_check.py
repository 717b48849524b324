"""Independent computation of the reference values of docs/theory/reference_values.rst.

Only numpy and scipy, nothing from lowrank: Gaussian averages by adaptive quadrature
(``scipy.integrate.quad``) and roots by Brent's method (``scipy.optimize.brentq``).
``tests/test_docs.py`` recomputes every number of the tables with these functions.

Run: python docs/theory/reference_check.py
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

OVERLAPS = (1.2, 1.5, 1.6, 2.0, 3.0)
GAINS = (1.1, 1.5, 2.0, 2.5, 3.0)


def gauss(f: Callable[[float], float], mu: float, delta: float) -> float:
    """[f](mu, delta) = E f(mu + sqrt(delta) z), z ~ N(0, 1), by adaptive quadrature over z."""
    s = math.sqrt(delta)

    def integrand(z: float) -> float:
        return f(mu + s * z) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    return quad(integrand, -12.0, 12.0, points=[0.0], limit=500, epsabs=1e-14, epsrel=1e-13)[0]


def sech2(x: float) -> float:
    """phi' for phi = tanh."""
    return 1.0 / math.cosh(x) ** 2


def tanh3(x: float) -> float:
    """phi''' = -2 sech^2 (1 - 3 tanh^2) for phi = tanh."""
    return -2.0 * sech2(x) * (1.0 - 3.0 * math.tanh(x) ** 2)


def lncosh(x: float) -> float:
    """Phi = ln cosh, the primitive of tanh (computed without overflow)."""
    return float(np.logaddexp(x, -x)) - math.log(2.0)


def kappa_star(overlap: float) -> float:
    """Positive root of overlap [phi'](0, kappa^2) = 1 (rank one, zero means, Sigma_mm = 1)."""
    return brentq(lambda k: overlap * gauss(sech2, 0.0, k * k) - 1.0, 1e-8, 20.0, xtol=1e-14)


def radial_eigenvalue(overlap: float) -> float:
    """-1 + overlap ([phi'] + kappa^2 [phi''']) at kappa = kappa_star(overlap)."""
    k2 = kappa_star(overlap) ** 2
    return -1.0 + overlap * (gauss(sech2, 0.0, k2) + k2 * gauss(tanh3, 0.0, k2))


def scs_delta0(g: float) -> float:
    """Nonzero root of Delta^2 / 2 = g^2 ([Phi^2](0, Delta) - [Phi](0, Delta)^2), g > 1."""

    def balance(delta: float) -> float:
        variance = gauss(lambda x: lncosh(x) ** 2, 0.0, delta) - gauss(lncosh, 0.0, delta) ** 2
        return 0.5 * delta * delta - g * g * variance

    return brentq(balance, 1e-4, 50.0, xtol=1e-14)


def main() -> None:
    print("overlap  kappa*     radial eigenvalue")
    for s in OVERLAPS:
        print(f"{s:<8} {kappa_star(s):.6f}   {radial_eigenvalue(s):.4f}")
    print("g    Delta_0")
    for g in GAINS:
        print(f"{g:<4} {scs_delta0(g):.6f}")
    print(f"[phi'](0, 127) = {gauss(sech2, 0.0, 127.0):.6f}")


if __name__ == "__main__":
    main()
