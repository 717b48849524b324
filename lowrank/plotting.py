"""Matplotlib helpers shared by the figures: atomic saving, spectra against the unit circle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._checks import as_array, as_float, choose
from .io import _atomic_write

__all__ = ["save_figure", "plot_spectrum"]


def save_figure(fig, path, dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically (temporary file + rename) in a new or existing folder,
    then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "png"
    _atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
    plt.close(fig)
    return path


def plot_spectrum(
    eigenvalues, ax=None, time: str = "discrete", radius: float | None = None, **scatter
):
    """Eigenvalues in the complex plane with the stability boundary of the time convention.

    Maps are stable inside the unit circle |lambda| = 1; for a flow dx/dt = -x + J phi(x) linearised
    at a point with gain 1, an eigenvalue lambda of J is unstable when Re(lambda) > 1 (dashed line).
    ``radius`` draws the bulk disk (e.g. g) as a dotted circle.
    """
    import matplotlib.pyplot as plt

    values = as_array(eigenvalues, "eigenvalues", ndim=1, dtype=complex, allow_empty=True)
    time = choose(time, "time", ("continuous", "discrete"))
    if radius is not None:
        radius = as_float(radius, "radius", minimum=0.0)
    ax = ax if ax is not None else plt.gca()
    theta = np.linspace(0, 2 * np.pi, 400)
    if time == "discrete":
        ax.plot(np.cos(theta), np.sin(theta), color="0.5", lw=0.8)
    else:
        ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    if radius is not None:
        ax.plot(radius * np.cos(theta), radius * np.sin(theta), color="0.7", lw=0.8, ls=":")
    ax.scatter(values.real, values.imag, s=scatter.pop("s", 8), **scatter)
    ax.set_aspect("equal")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    return ax
