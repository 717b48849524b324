"""Argument validation shared by the public API.

Every public function turns bad input into a ``ValueError`` or ``TypeError`` that names the
argument and what was expected, before anything reaches numba or torch. Solvers that stop short
of their tolerance warn with :class:`ConvergenceWarning`; simulations that diverge warn with
:class:`DivergenceWarning`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

#: Largest number of time steps accepted (the kernels count steps in int64).
MAX_STEPS = 2**62


class ConvergenceWarning(RuntimeWarning):
    """An iterative solver stopped before reaching its tolerance; the message gives the residual.

    A subclass of ``RuntimeWarning``, so ``warnings.simplefilter("error", RuntimeWarning)`` also
    turns it into an error.
    """


class DivergenceWarning(RuntimeWarning):
    """A simulated trajectory left the region the dynamics can reach: the integration diverged.

    ``simulate`` bounds the exact flow of a tanh network a priori (see its Notes); a trajectory
    beyond ten times that bound, or a non-finite one, is an artefact of the time step (or of the
    noise), never the network's dynamics. A subclass of ``RuntimeWarning``.
    """


def as_array(
    value,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: tuple | None = None,
    dtype=np.float64,
    finite: bool = True,
    allow_empty: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a numpy array and check it.

    Parameters
    ----------
    value : array_like
        The input.
    name : str
        Argument name used in error messages.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    dtype : numpy dtype
        Target dtype (float64 by default).
    finite : bool
        Reject NaN and infinities.
    allow_empty : bool
        Accept arrays with a zero-length axis.

    Notes
    -----
    Complex input is refused unless ``dtype`` is complex (casting would drop the imaginary part),
    and so are strings. A torch tensor is read through ``detach().cpu()``, so tensors that
    require gradients are accepted (as their current values).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    kind = type(value).__name__
    try:
        if callable(getattr(value, "detach", None)):  # a torch tensor, with or without gradients
            value = value.detach().cpu().numpy()
        raw = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be an array of numbers, got {kind}") from exc
    if raw.dtype.kind in "USV":
        raise TypeError(f"{name} must be an array of numbers, got {kind} of text or bytes")
    if np.iscomplexobj(raw) and not np.issubdtype(dtype, np.complexfloating):
        raise TypeError(
            f"{name} must be real, got complex values (dtype {raw.dtype}); pass the real part "
            "explicitly if the imaginary part is meant to be dropped"
        )
    try:
        arr = raw.astype(dtype, copy=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers, got {kind}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {arr.shape}"
            )
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
        ):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def as_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool) within bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_float(
    value,
    name: str,
    *,
    minimum: float | None = None,
    positive: bool = False,
) -> float:
    """Check that ``value`` is a finite real number, optionally bounded below."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def as_bool(value, name: str) -> bool:
    """Check that ``value`` is a bool (numpy bools included), not merely truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def step_count(duration, dt: float, time: str, name: str = "t_max") -> int:
    """Number of steps of length ``dt`` (already checked > 0) in ``duration``.

    ``duration`` must be a whole multiple of ``dt``; for ``time="discrete"`` it counts steps and
    ``dt`` must be 1.
    """
    duration = as_float(duration, name, minimum=0.0)
    if time == "discrete" and dt != 1.0:
        raise ValueError(f"dt must be 1 for time='discrete' ({name} counts steps), got {dt}")
    ratio = duration / dt
    if not ratio < MAX_STEPS:
        raise ValueError(
            f"{name} / dt = {ratio:.3g} steps is more than the {MAX_STEPS:.3g} allowed"
        )
    n_steps = round(ratio)
    if abs(n_steps * dt - duration) > 1e-9 * max(duration, dt):
        raise ValueError(f"{name} ({duration}) must be a whole multiple of dt ({dt})")
    return int(n_steps)


def choose(value, name: str, options: Sequence[str]) -> str:
    """Check that ``value`` is one of the allowed option names."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string, one of {list(options)}, got {type(value).__name__}"
        )
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(options)}")
    return value


def as_rng(seed) -> np.random.Generator:
    """Return a numpy Generator from an int seed, a SeedSequence or a Generator.

    The same int always gives the same stream; a Generator is used as it is (and advanced).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if seed is None:
        raise TypeError("seed must be an int or a numpy Generator (None would not be reproducible)")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def seed_sequence(seed) -> np.random.SeedSequence:
    """Return a SeedSequence from which independent child streams are spawned.

    An int or SeedSequence maps to itself deterministically; a Generator contributes fresh
    entropy drawn from it (so it is advanced, as with any other use of a Generator).
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    as_rng(seed)  # validates
    return np.random.SeedSequence(int(seed))
