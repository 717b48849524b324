"""Elementwise functions that LLVM can vectorise, for the simulation kernels.

numba's ``math.tanh`` calls the scalar libm routine (about 15 ns per element here), which no
compiler can vectorise; numpy's SIMD tanh runs at about 2 ns. ``tanh`` below is branch-free
arithmetic (selects only) that LLVM turns into SIMD code, about 0.8 ns per element, with a
relative error below 5e-16 (about 2 ulp; tested against mpmath in tests/test_kernels.py).

Method: with a = min(|x|, 20) and y = 2a, the argument is reduced as y = k ln 2 + r with
k = floor(y / ln 2) and 0 <= r < ln 2 (Cody & Waite 1980: ln 2 split in a head whose products by
k are exact and a tail). e^r = (Q + V) / (Q - V) is the diagonal [7/7] Pade approximant of the
exponential, Q = q(r^2) and V = r v(r^2) its even and odd parts (integer coefficients
(14 - j)! / (j! (7 - j)!), exact in float64; truncation error < 1e-18 for r < ln 2). With
s = 2^k built from its exponent bits,

    tanh(a) = (s e^r - 1) / (s e^r + 1) = ((s - 1)(Q + V) + 2V) / (s (Q + V) + Q - V),

one division, and every term is >= 0 (r >= 0), so nothing cancels: for small a (k = 0, s = 1)
it is V / Q = a (1 + O(a^2)), accurate down to subnormal a. For |x| >= 20, tanh(x) rounds to
+-1 in float64 (k <= 57, no overflow).

Counter-based Gaussian noise: ``normal(key, counter)`` hashes (key, counter) with the SplitMix64
finaliser (Steele, Lea & Flood 2014) into two uniforms and applies Box-Muller. Being stateless,
the noise of a given trial, step and neuron is the same whatever the thread count or the order of
evaluation, and the same in every kernel.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@intrinsic
def _double_from_bits(typingctx, bits):
    """The float64 whose IEEE 754 bit pattern is the int64 ``bits`` (an LLVM bitcast)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_from_double(typingctx, x):
    """The int64 holding the IEEE 754 bit pattern of the float64 ``x`` (an LLVM bitcast)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@njit(**_JIT)
def abs_bits(x: float) -> np.int64:
    """The bits of |x| as an int64, ordered as |x| is (NaN above inf).

    The maximum of these over a loop is an integer reduction, which LLVM vectorises (a
    floating-point max is not, without the no-NaN flag).
    """
    return _bits_from_double(abs(x))


@njit(**_JIT)
def from_bits(bits: np.int64) -> float:
    """The float64 with these bits (inverse of ``abs_bits`` on non-negative values)."""
    return _double_from_bits(bits)


_LN2_HI = 6.93147180369123816490e-01  # 32 significant bits: k * _LN2_HI is exact for k < 2^21
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.0 / math.log(2.0)


@njit(**_JIT)
def tanh(x: float) -> float:
    """Hyperbolic tangent, vectorisable, relative error < 5e-16 (see the module docstring)."""
    y = 2.0 * min(abs(x), 20.0)
    k = math.floor(y * _INV_LN2)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    u = r * r
    q = 17297280.0 + u * (1995840.0 + u * (25200.0 + u * 56.0))
    v = r * (8648640.0 + u * (277200.0 + u * (1512.0 + u)))
    s = _double_from_bits((np.int64(k) + 1023) << 52)
    t = ((s - 1.0) * (q + v) + (v + v)) / (s * (q + v) + (q - v))
    return t if x >= 0.0 else -t


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO = np.uint64(2)


@njit(**_JIT)
def _splitmix(key: np.uint64, counter: np.uint64) -> np.uint64:
    z = key + (counter + _ONE) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(**_JIT)
def _uniform(key: np.uint64, counter: np.uint64) -> float:
    """Uniform in the open interval (0, 1), 53 random bits."""
    return ((_splitmix(key, counter) >> _S11) + 0.5) * (1.0 / 9007199254740992.0)


@njit(**_JIT)
def normal(key: np.uint64, counter: np.uint64) -> float:
    """Standard normal draw number ``counter`` of the stream ``key`` (Box-Muller)."""
    u1 = _uniform(key, _TWO * counter)
    u2 = _uniform(key, _TWO * counter + _ONE)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
