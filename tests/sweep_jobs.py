"""Cheap sweep jobs for tests/test_sweep.py (imported by name, so subprocesses can import them)."""

import json
import sys
import time

import numpy as np


def noisy_square(settings: dict, seed: int) -> dict:
    """x^2 plus seeded noise, and a seeded vector: results that depend on settings and seed."""
    rng = np.random.default_rng([seed, settings["x"]])
    return {"value": settings["x"] ** 2 + rng.normal(), "vector": rng.normal(size=3)}


def fail_on_two(settings: dict, seed: int) -> dict:
    """Raises for x == 2, like a job whose settings make training blow up."""
    if settings["x"] == 2:
        raise RuntimeError(f"boom at x=2 seed {seed}")
    return noisy_square(settings, seed)


def slow_logged(settings: dict, seed: int) -> dict:
    """Sleeps, then appends (x, seed) to the log file named in settings: counts computations."""
    time.sleep(settings["sleep"])
    with open(settings["log"], "a", encoding="utf-8") as log:
        log.write(json.dumps([settings["x"], seed]) + "\n")
    return noisy_square(settings, seed)


def not_a_dict(settings: dict, seed: int):
    """A job breaking the contract (must return a dict)."""
    return [settings["x"], seed]


def named_like_a_column(settings: dict, seed: int) -> dict:
    """Returns an output named after the column given in settings["column"]."""
    return {"value": 1.0, settings["column"]: 7}


def non_finite(settings: dict, seed: int) -> dict:
    """inf, -inf and nan as scalars, and in an array."""
    return {
        "up": float("inf"),
        "down": -np.inf,
        "none": np.float64("nan"),
        "finite": seed + 0.5,
        "vector": np.array([np.inf, -np.inf, np.nan, 1.0]),
    }


def exits(settings: dict, seed: int) -> dict:
    """For x == 2: calls sys.exit(3), or raises the BaseException named by settings["raise"]."""
    if settings["x"] == 2:
        if "raise" in settings:
            raise {"GeneratorExit": GeneratorExit, "KeyboardInterrupt": KeyboardInterrupt}[
                settings["raise"]
            ]("stop")
        sys.exit(3)
    return noisy_square(settings, seed)
