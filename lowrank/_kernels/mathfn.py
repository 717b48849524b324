"""Elementwise functions that LLVM can vectorise, for the simulation kernels.

numba's ``math.tanh`` calls the scalar libm routine (about 15 ns per element here), which no
compiler can vectorise; numpy's SIMD tanh runs at about 2 ns. ``tanh`` below is branch-free
arithmetic (selects only) that LLVM turns into SIMD code, about 0.6 ns per element, within 3 ulp
of the exact value (tested against mpmath and numpy in tests/test_kernels.py and
tests/test_simulate_kernels.py).

Method: with a = min(|x|, 20), a = k ln(2) / 2 + r with k the integer nearest to 2 a / ln 2 and
|r| <= ln(2) / 4. k is rounded by adding 1.5 * 2^52 + 1023, which leaves k + 1023, the biased
exponent of s = 2^k, in the low bits; r = a - k L is one fused multiply-add, L = ln(2) / 2
rounded to float64: its error moves r by k |L - ln(2) / 2| <= k 2^-55, and tanh by less than
half an ulp (most at k = 1). e^{2r} = (Q + V) / (Q - V) is the diagonal [6/6] Pade approximant
of the exponential, whose even and odd parts in r are, scaled by 64 (exact integer
coefficients),

    Q = 10395 + 4725 r^2 + 210 r^4 + r^6,    V = r (10395 + 1260 r^2 + 21 r^4)

(V / Q is the [7/6] continued-fraction approximant of tanh r; the truncation error of e^{2r} is
< 2e-19 for |r| <= ln(2) / 4). Then, with W = 2 V and P = Q + V,

    tanh(a) = (s e^{2r} - 1) / (s e^{2r} + 1) = ((s - 1) P + W) / (s P + Q - V),

one division. For k = 0 (a < ln(2) / 4, r = a) it is W / (2 Q) = a (1 + O(a^2)): nothing cancels,
accurate down to subnormal a; for k >= 1 the numerator is >= P / 2 (V / Q = tanh r >= -0.18),
so at most one bit cancels. For |x| >= 20, tanh(x) rounds to +-1 in float64 (k <= 58, no
overflow). The sign is copied from x (tanh(-0) = -0; NaN gives NaN). Measured: 3 ulp at most,
0.6 ulp on average (numpy's: 1 ulp at most).

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


_HALF_LN2 = math.log(2.0) / 2.0
_TWO_INV_LN2 = 2.0 / math.log(2.0)
#: 1.5 * 2^52 + 1023: y + _ROUND_BIAS rounds y to an integer k and holds k + 1023 in its low bits
_ROUND_BIAS = 6755399441055744.0 + 1023.0


@njit(**_JIT)
def tanh(x: float) -> float:
    """Hyperbolic tangent, vectorisable, within 3 ulp (see the module docstring)."""
    a = min(abs(x), 20.0)
    kb = a * _TWO_INV_LN2 + _ROUND_BIAS
    k = kb - _ROUND_BIAS
    r = a - k * _HALF_LN2
    u = r * r
    q = 10395.0 + u * (4725.0 + u * (210.0 + u))
    w = r * (20790.0 + u * (2520.0 + u * 42.0))
    s = _double_from_bits(_bits_from_double(kb) << 52)
    p = q + 0.5 * w
    return math.copysign(((s - 1.0) * p + w) / (s * p + (q - 0.5 * w)), x)


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
