"""One adapter from every kind of system to a vector field or map, in one time convention.

Every system is written in *leak form*: a target G(x) toward which the state relaxes,

    time="continuous"  (flow)  dx/dt = F(x) = -x + G(x),
    time="discrete"    (map)   x'    = G(x),

so that the residual whose roots are the fixed points is R(x) = G(x) - x in both conventions (the
velocity of a flow, the displacement of a map). For a tanh network with recurrent weights W, input
weights W_in, bias b and a constant input u (c = W_in u + b; Mastrogiuseppe & Ostojic 2018, Neuron
99:609, for flows; Turner & Barak 2023, NeurIPS, for maps):

    flow  G(x) = W tanh(x) + c,   dG/dx = W diag(1 - tanh(x)^2),
    map   G(h) = tanh(W h + c),   dG/dh = diag(1 - tanh(W h + c)^2) W.

For the closed latent dynamics of a ``lowrank.MeanField`` with g = 0 (Beiran et al. 2021, Neural
Comput. 33:1572), G(kappa) = <n phi(m . kappa + I . u)>.

The stability of a point is read from the eigenvalues of the Jacobian of the *field* (dF/dx for a
flow, dG/dh for a map) with ``lowrank.dynamics.stability.classify``.

``as_system`` accepts a ``LowRankNetwork``, a ``lowrank.RNN`` (duck-typed: ``weights()``,
``time``, ``recurrent_weights``), a dict of weights as in ``RNN.weights()`` or a checkpoint, a
tuple (W, W_in[, b]), a bare square weight matrix W (with an explicit ``time``), or a MeanField
(duck-typed: ``latent_map``, ``jacobian``, ``time``). It also reads networks trained with plain
torch code: a ``torch.nn.RNN`` (tanh, one layer, one direction; ``batch_first`` only changes the
layout of the inputs) or ``torch.nn.RNNCell``, a module holding exactly one of them, and their
state dicts (``weight_hh_l0``, ``weight_ih_l0``, ``bias_hh_l0``, ``bias_ih_l0``, or the cell's
``weight_hh``, ...; under one prefix such as ``rnn.``). Their update

    h' = tanh(W_ih u + b_ih + W_hh h + b_hh)

is the map above with W = W_hh, W_in = W_ih and b = b_ih + b_hh (time="discrete"). Torch objects
are recognised by duck typing (a class from a ``torch`` module, attribute names) and their tensors
read with ``detach().cpu()``: this module never imports torch.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from .._checks import as_array, choose
from .._kernels.products import rows_times_transpose
from ..network import LowRankNetwork
from .stability import STABILITY_TOL, classify, sort_eigenvalues
from .steppers import run, stepper

__all__ = ["System", "Dynamics", "LatentDynamics", "as_system", "own_time", "TIMES"]

TIMES = ("continuous", "discrete")


def _tangents(X: np.ndarray, V) -> tuple[np.ndarray, bool]:
    """V as (..., d, k) and whether it was given as vectors shaped like X."""
    V = np.asarray(V, dtype=float)
    if V.shape == X.shape:
        return V[..., None], True
    if V.shape[:-1] != X.shape:
        raise ValueError(f"V must have the shape of x {X.shape} or {X.shape} + (k,), got {V.shape}")
    return V, False


class System(ABC):
    """A system in leak form (module docstring); subclasses define the target G and its derivative.

    Every method takes a batch of states ``X`` of shape (..., d) and an optional constant drive
    ``c`` as returned by ``drive(inputs)``; without ``c`` the system's own (the one it was built
    with: the bias, plus W_in u when built with inputs) is used.
    """

    time: str

    @property
    @abstractmethod
    def dim(self) -> int:
        """d, the dimension of the state."""

    @abstractmethod
    def drive(self, inputs=None) -> np.ndarray:
        """The constant drive c for a constant input u (``inputs``; zero when None)."""

    @abstractmethod
    def bind(self, inputs) -> System:
        """The same system with ``inputs`` as its own constant input."""

    @abstractmethod
    def target(self, X, c=None) -> np.ndarray:
        """G(X)."""

    @abstractmethod
    def target_jacobian(self, X, c=None) -> np.ndarray:
        """dG/dx, shape (..., d, d), as a new array (``jacobian`` modifies it in place)."""

    @abstractmethod
    def target_jvp(self, X, V, c=None) -> np.ndarray:
        """dG/dx V without forming dG/dx (V shaped like X, or like X plus a trailing k axis)."""

    @abstractmethod
    def project(self, X) -> np.ndarray:
        """Latent coordinates kappa of the states X."""

    # --- derived quantities, the same for every system ------------------------------------------
    def field(self, X, c=None) -> np.ndarray:
        """The vector field F(x) = -x + G(x) (flow) or the map's image G(x) (map)."""
        G = self.target(X, c)
        return G - np.asarray(X, dtype=float) if self.time == "continuous" else G

    def residual(self, X, c=None) -> np.ndarray:
        """R(x) = G(x) - x: the velocity of a flow, the displacement of a map (zero at a fixed
        point)."""
        return self.target(X, c) - np.asarray(X, dtype=float)

    def jacobian(self, X, c=None) -> np.ndarray:
        """dR/dx = dG/dx - I, shape (..., d, d): the Jacobian of ``residual``."""
        D = self.target_jacobian(X, c)  # a new array: shift its diagonal in place
        diagonal = np.arange(self.dim)
        D[..., diagonal, diagonal] -= 1.0
        return D

    def field_jacobian(self, X, c=None) -> np.ndarray:
        """dF/dx (flow) or dG/dx (map), shape (..., d, d): the linearisation that decides
        stability."""
        return self.jacobian(X, c) if self.time == "continuous" else self.target_jacobian(X, c)

    def jvp(self, X, V, c=None) -> np.ndarray:
        """(dF/dx) V (flow) or (dG/dx) V (map), the Jacobian of ``field`` times V."""
        DV = self.target_jvp(X, V, c)
        return DV - np.asarray(V, dtype=float) if self.time == "continuous" else DV

    def stability_eigenvalues(self, X, c=None) -> np.ndarray:
        """Eigenvalues of ``field_jacobian`` at each state, least stable first, shape (..., d)."""
        return sort_eigenvalues(np.linalg.eigvals(self.field_jacobian(X, c)), self.time)

    def classify(self, X, c=None, tol: float = STABILITY_TOL) -> np.ndarray:
        """Classify each state as "stable", "unstable" or "marginal" (``stability.classify``)."""
        return classify(self.stability_eigenvalues(X, c), self.time, tol)

    def newton_function(self, c=None):
        """``fun(x) -> (R(x), dR/dx, x)`` for one state, as ``lowrank.dynamics.solve`` expects."""

        def fun(x):
            x = np.asarray(x, dtype=float)
            return self.residual(x, c), self.jacobian(x, c), x

        return fun


@dataclass
class Dynamics(System):
    """A tanh network in one time convention (module docstring).

    Attributes
    ----------
    W : ndarray (N, N) or None
        Recurrent weights (for a low-rank network, m n^T / N + g chi). None when ``factors``
        are given: the dense matrix is then formed only when ``W`` is first read, and every
        product goes through the factors (a network of N = 100 000 never forms it).
    W_in : ndarray (N, K)
        Input weights.
    bias : ndarray (N,)
        Constant input b.
    time : str
        "continuous" (a flow) or "discrete" (a map).
    readout : ndarray (N, R)
        Vectors n on which states are projected: kappa = n^T tanh(x) / N (flow) or n^T h / N (map).
    factors : tuple (m, n) of ndarray (N, R), optional
        The low-rank structure when W = m n^T / N exactly (no bulk), for O(N R) computations.
    inputs : ndarray (K,) or (S, K), optional
        A constant input u the system is bound to (zero when omitted): the default drive is then
        c = W_in u + b.
    """

    W: np.ndarray
    W_in: np.ndarray
    bias: np.ndarray
    time: str
    readout: np.ndarray
    factors: tuple[np.ndarray, np.ndarray] | None = None
    inputs: np.ndarray | None = None

    def __post_init__(self):
        if self.W is None:
            if self.factors is None:
                raise ValueError("W must be given when there are no factors (m, n)")
            del self.W  # formed on first access, by __getattr__

    def __getattr__(self, name: str):
        # reached only for an attribute not set: W left to the factors
        factors = self.__dict__.get("factors")
        if name != "W" or factors is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        m, n = factors
        self.W = m @ n.T / m.shape[0]
        return self.W

    @classmethod
    def from_object(cls, obj, time: str | None = None, name: str = "model_or_network") -> Dynamics:
        """Build from a LowRankNetwork, a ``lowrank.RNN``, a dict of weights, a tuple (W, W_in[, b])
        or a square weight matrix (see ``as_system``; ``name`` names ``obj`` in errors)."""
        system = as_system(obj, time, name=name)
        if not isinstance(system, Dynamics):
            raise TypeError(
                f"{name} must be a network (LowRankNetwork, lowrank.RNN, weights), "
                f"got {type(obj).__name__}"
            )
        return system

    @classmethod
    def from_weights(cls, weights: dict, time: str) -> Dynamics:
        """Build from the parameters of a ``lowrank.RNN`` (as in ``RNN.weights()`` or a checkpoint).

        ``weight_rec`` (N, N) or ``m``, ``n`` (N, R) with W = m n^T / N; ``weight_in`` (N, K);
        optional ``bias`` (N,). The readout vectors are n when present.
        """
        time = choose(time, "time", TIMES)
        if not isinstance(weights, dict):
            raise TypeError(f"weights must be a dict of arrays, got {type(weights).__name__}")
        w = {k: as_array(v, f"weights[{k!r}]", allow_empty=True) for k, v in weights.items()}
        factors = None
        if "weight_rec" in w:
            W = as_array(w["weight_rec"], "weights['weight_rec']", ndim=2)
            N = W.shape[0]
            W = as_array(W, "weights['weight_rec']", shape=(N, N))
            readout = np.zeros((N, 0))
        elif "m" in w and "n" in w:
            m = as_array(w["m"], "weights['m']", ndim=2)
            n = as_array(w["n"], "weights['n']", shape=m.shape)
            W = None  # formed from the factors only if read
            readout, factors = n, (m, n)
        else:
            raise ValueError(f"weights must hold 'weight_rec' or 'm' and 'n', got keys {sorted(w)}")
        N = readout.shape[0]
        W_in = as_array(
            w.get("weight_in", np.zeros((N, 0))),
            "weights['weight_in']",
            shape=(N, None),
            allow_empty=True,
        )
        bias = as_array(w.get("bias", np.zeros(N)), "weights['bias']", shape=(N,))
        return cls(W, W_in, bias, time, readout, factors)

    @property
    def N(self) -> int:
        return self.bias.shape[0]

    @property
    def dim(self) -> int:
        return self.bias.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.W_in.shape[1]

    def drive(self, inputs=None) -> np.ndarray:
        """c = W_in u + b for a constant input u of shape (K,) or a batch (S, K); u = 0 if None."""
        if inputs is None:
            return self.bias.copy()
        u = as_array(inputs, "inputs", ndim=(1, 2), allow_empty=True)
        if u.shape[-1] != self.n_inputs:
            raise ValueError(f"inputs must have shape ({self.n_inputs},), got {u.shape}")
        return u @ self.W_in.T + self.bias

    def bind(self, inputs) -> Dynamics:
        """The same network under the constant input u (``inputs``; validated like ``drive``)."""
        self.drive(inputs)
        u = None if inputs is None else np.asarray(inputs, dtype=float)
        return replace(self, W=self.__dict__.get("W"), inputs=u)

    def _c(self, c) -> np.ndarray:
        return self.drive(self.inputs) if c is None else c

    def _rows(self, Y: np.ndarray) -> np.ndarray:
        """Y W^T for states Y (..., N); O(N R) per state through the factors when known."""
        if self.factors is None:
            return rows_times_transpose(Y, self.W)
        m, n = self.factors
        return (Y @ n) @ m.T / self.N

    def _columns(self, V: np.ndarray) -> np.ndarray:
        """W V for tangent vectors V (..., N, k)."""
        if self.factors is None:
            return self.W @ V
        m, n = self.factors
        return m @ (n.T @ V) / self.N

    def target(self, X, c=None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if self.time == "discrete":
            return np.tanh(self._rows(X) + self._c(c))
        return self._rows(np.tanh(X)) + self._c(c)

    def _gain(self, X, c) -> np.ndarray:
        """phi'(x) (flow) or phi'(W h + c) (map), shape (..., N)."""
        pre = X if self.time == "continuous" else self._rows(X) + self._c(c)
        return 1.0 - np.tanh(pre) ** 2

    def target_jacobian(self, X, c=None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        gain = self._gain(X, c)
        if self.time == "discrete":
            return gain[..., :, None] * self.W
        return self.W * gain[..., None, :]

    def target_jvp(self, X, V, c=None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        V, vectors = _tangents(X, V)
        gain = self._gain(X, c)[..., None]
        out = gain * self._columns(V) if self.time == "discrete" else self._columns(gain * V)
        return out[..., 0] if vectors else out

    def project(self, X) -> np.ndarray:
        """kappa = n^T tanh(x) / N (flow) or n^T h / N (map), shape (..., R)."""
        X = np.asarray(X, dtype=float)
        activity = X if self.time == "discrete" else np.tanh(X)
        return activity @ self.readout / self.N

    def trajectory_states(self, rng, n_starts: int, c=None, steps: int = 100) -> np.ndarray:
        """States visited along trajectories from random initial conditions, shape (S, N).

        Initial states are uniform in [-1, 1]^N (maps) or [-2, 2]^N (flows); each trajectory is
        stopped after a random number of steps in 0..steps (Euler steps of 0.2 for flows, map
        iterations for maps), so the states sample where the dynamics go.
        """
        X = rng.uniform(-1.0, 1.0, (n_starts, self.N))
        if self.time == "continuous":
            X *= 2.0
        stop = rng.integers(0, steps + 1, n_starts)
        c = self._c(c)
        states = X.copy()

        def record(k, Y):
            states[stop == k] = Y[stop == k]

        last = int(stop.max()) if n_starts else 0  # no step after the last state is recorded
        run(stepper(lambda Y: self.target(Y, c), self.time, "euler", 0.2), X, last, record)
        return states


class LatentDynamics(System):
    """The closed latent dynamics of a ``lowrank.MeanField`` with g = 0 (duck-typed).

    G(kappa) = ``mf.latent_map(kappa, u)``; its Jacobian comes from ``mf.jacobian`` (which is
    dF/dkappa for a flow and dG/dkappa for a map). The drive ``c`` of this system is the input u.
    """

    def __init__(self, meanfield, inputs=None):
        if getattr(meanfield, "g", 0.0) > 0:
            raise ValueError(
                "the latent dynamics are closed only for g = 0 (MeanField with a bulk)"
            )
        self.meanfield = meanfield
        self.time = choose(meanfield.time, "MeanField.time", TIMES)
        self.rank = int(meanfield.rank)
        self.n_inputs = int(meanfield.n_inputs)
        self.inputs = self.drive(inputs)

    @property
    def dim(self) -> int:
        return self.rank

    def drive(self, inputs=None) -> np.ndarray:
        """The input u itself (zero when None)."""
        if inputs is None:
            return np.zeros(self.n_inputs)
        return as_array(inputs, "inputs", shape=(self.n_inputs,), allow_empty=True)

    def bind(self, inputs) -> LatentDynamics:
        return LatentDynamics(self.meanfield, inputs)

    def _rows(self, X):
        X = np.asarray(X, dtype=float)
        return X, X.reshape(-1, self.rank)

    def target(self, X, c=None) -> np.ndarray:
        u = self.inputs if c is None else c
        X, rows = self._rows(X)
        out = np.array([self.meanfield.latent_map(k, u) for k in rows])
        return out.reshape(X.shape)

    def target_jacobian(self, X, c=None) -> np.ndarray:
        u = self.inputs if c is None else c
        X, rows = self._rows(X)
        shift = np.eye(self.rank) if self.time == "continuous" else 0.0
        out = np.array([self.meanfield.jacobian(k, u) + shift for k in rows])
        return out.reshape(X.shape + (self.rank,))

    def target_jvp(self, X, V, c=None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        V, vectors = _tangents(X, V)
        out = self.target_jacobian(X, c) @ V
        return out[..., 0] if vectors else out

    def project(self, X) -> np.ndarray:
        """kappa itself."""
        return np.asarray(X, dtype=float)


#: torch recurrent layers a module may hold; only the tanh RNN and RNNCell are read
_TORCH_RECURRENT = ("RNN", "RNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell")
#: keys (after the prefix) that hold the recurrent weights, torch's and lowrank's own
_ANCHOR = re.compile(r"^(?P<prefix>(?:.*\.)?)(?:weight_hh(?:_l\d+)?|weight_rec|m)$")


def _is_torch(obj) -> bool:
    """Whether ``obj`` is an instance of a torch class (or of a subclass of one)."""
    return any(k.__module__.startswith("torch") for k in type(obj).__mro__)


def _torch_layer(module, name: str):
    """The one recurrent layer of a torch module (itself or a submodule) and its name in errors,
    or (None, name) when it holds none. Refuses anything but a one-layer unidirectional tanh
    ``nn.RNN`` or a tanh ``nn.RNNCell``, naming the attribute at fault."""
    layers = [
        (path, m)
        for path, m in module.named_modules()
        if type(m).__module__.startswith("torch") and type(m).__name__ in _TORCH_RECURRENT
    ]
    if not layers:
        return None, name
    if len(layers) > 1:
        paths = ", ".join(path or "(the module itself)" for path, _ in layers)
        raise ValueError(
            f"{name} holds {len(layers)} recurrent layers ({paths}); pass the one to analyse"
        )
    path, layer = layers[0]
    where = f"{name}.{path}" if path else name
    kind = type(layer).__name__
    if kind not in ("RNN", "RNNCell"):
        raise ValueError(
            f"{where} is a torch.nn.{kind}: only torch.nn.RNN and torch.nn.RNNCell (tanh) are "
            "supported"
        )
    if layer.nonlinearity != "tanh":
        raise ValueError(
            f"{where}.nonlinearity must be 'tanh' (the dynamics analysed are tanh networks), "
            f"got {layer.nonlinearity!r}"
        )
    if kind == "RNN" and layer.num_layers != 1:
        raise ValueError(f"{where}.num_layers must be 1, got {layer.num_layers}")
    if kind == "RNN" and layer.bidirectional:
        raise ValueError(
            f"{where}.bidirectional must be False: a bidirectional RNN is not a dynamical system"
        )
    return layer, where


def _state_weights(weights: dict, name: str) -> tuple[dict, str | None]:
    """A state dict read as lowrank weights (``Dynamics.from_weights``) and its own time
    convention: "discrete" for torch's layout, None for lowrank's own (``weight_rec`` or m, n).

    The recurrent weights may sit under one prefix ending in '.' (``rnn.weight_hh_l0``); other
    entries (a readout, ...) are ignored."""
    prefixes = sorted({
        match["prefix"] for match in map(_ANCHOR.match, map(str, weights)) if match is not None
    })
    if len(prefixes) > 1:
        raise ValueError(
            f"{name} holds recurrent weights under several prefixes {prefixes}; pass the state "
            "dict of one layer"
        )
    if not prefixes:  # nothing recognised: from_weights names the keys it needs
        return weights, None
    prefix = prefixes[0]
    w = {
        str(k)[len(prefix):]: v
        for k, v in weights.items()
        if str(k).startswith(prefix) and "." not in str(k)[len(prefix):]
    }
    if any(re.search(r"_l[1-9]\d*$", k) for k in w):
        raise ValueError(
            f"{name} holds the weights of several layers (keys ending in _l1, ...): only "
            "one-layer RNNs (num_layers=1) are supported"
        )
    if any(k.endswith("_reverse") for k in w):
        raise ValueError(
            f"{name} holds the weights of a bidirectional RNN (keys ending in _reverse): only "
            "unidirectional RNNs are supported"
        )
    if not any(k in w for k in ("weight_hh_l0", "weight_hh")):  # lowrank's own keys
        return w, None
    suffix = "_l0" if "weight_hh_l0" in w else ""
    W = as_array(w[f"weight_hh{suffix}"], f"{name}[{prefix + 'weight_hh' + suffix!r}]", ndim=2)
    N = W.shape[0]
    out = {"weight_rec": W, "weight_in": w.get(f"weight_ih{suffix}", np.zeros((N, 0)))}
    biases = [
        as_array(w[key], f"{name}[{prefix + key!r}]", shape=(N,))
        for key in (f"bias_ih{suffix}", f"bias_hh{suffix}")
        if key in w
    ]
    out["bias"] = sum(biases, np.zeros(N))
    return out, "discrete"


def _read_weights(obj, name: str) -> tuple[dict, str | None] | None:
    """Weights and own time convention of a torch module or a state dict; None for any other
    object."""
    if isinstance(obj, dict):
        return _state_weights(obj, name)
    if _is_torch(obj) and callable(getattr(obj, "named_modules", None)):
        layer, where = _torch_layer(obj, name)
        return _state_weights((obj if layer is None else layer).state_dict(), where)
    return None


def own_time(obj) -> str | None:
    """The time convention a system carries itself, or None when it must be given.

    A ``System``, a ``lowrank.RNN`` or a ``MeanField`` carry their own; a torch ``nn.RNN`` /
    ``nn.RNNCell`` (and torch's state-dict layout) is a map, "discrete"; arrays, tuples, a
    ``LowRankNetwork`` and dicts of lowrank's own weights carry none.
    """
    if isinstance(obj, System):
        return obj.time
    if hasattr(obj, "time") and (hasattr(obj, "recurrent_weights") or hasattr(obj, "latent_map")):
        return choose(obj.time, "time", TIMES)
    found = _read_weights(obj, "obj")
    return None if found is None else found[1]


def _time(time, owner: str, own: str) -> None:
    """Check that an explicit ``time`` agrees with the owner's own convention."""
    if time is not None and choose(time, "time", TIMES) != own:
        raise ValueError(f"time={time!r} contradicts the {owner}'s own time convention {own!r}")


def _required_time(time, what: str) -> str:
    if time is None:
        raise ValueError(f"time must be given ('continuous' or 'discrete') for {what}")
    return choose(time, "time", TIMES)


def as_system(
    obj,
    time: str | None = None,
    inputs=None,
    *,
    default_time: str | None = "continuous",
    name: str = "system",
) -> System:
    """Turn any supported system into a ``System`` in one time convention (module docstring).

    Parameters
    ----------
    obj : System, LowRankNetwork, lowrank.RNN, MeanField, torch.nn.RNN, dict, tuple or ndarray
        - a ``System`` (returned as it is, bound to ``inputs`` when given);
        - a ``LowRankNetwork``: W = m n^T / N (+ g chi), W_in = its inputs, b = its bias,
          readout n; the factors (m, n) are kept when there is no bulk;
        - a ``lowrank.RNN`` (anything with ``weights()``, ``time`` and ``recurrent_weights``):
          its own time convention;
        - a ``lowrank.MeanField`` (anything with ``latent_map``, ``jacobian`` and ``time``; g = 0):
          its closed latent dynamics;
        - a ``torch.nn.RNN`` (tanh, ``num_layers=1``, not bidirectional), a ``torch.nn.RNNCell``
          (tanh), or a torch module holding exactly one of them: the map
          h' = tanh(W_hh h + W_ih u + b_ih + b_hh), time "discrete" (module docstring);
        - a state dict of torch's layout (``weight_hh_l0``, ``weight_ih_l0``, ``bias_ih_l0``,
          ``bias_hh_l0``, or the cell's names without ``_l0``; a missing bias is zero), possibly
          under one prefix ending in '.' such as ``rnn.`` (other entries are ignored): the same
          map, "discrete" (the nonlinearity is taken to be tanh);
        - a dict of lowrank's weights as in ``RNN.weights()`` (``Dynamics.from_weights``; also
          under one prefix), a tuple (W, W_in[, b]) or a square matrix W (no inputs, no bias):
          these need ``time``.
    time : {"continuous", "discrete"}, optional
        The time convention; must agree with the model's, MeanField's or torch network's own.
    inputs : array_like (K,), optional
        A constant input u bound to the system (zero when omitted).
    default_time : str or None
        Convention of a LowRankNetwork when ``time`` is None; None makes ``time`` required.
    name : str
        Name of ``obj`` in error messages.

    Returns
    -------
    System
        A ``Dynamics`` (networks) or a ``LatentDynamics`` (MeanField).
    """
    if isinstance(obj, System):
        _time(time, "system", obj.time)
        return obj if inputs is None else obj.bind(inputs)
    if hasattr(obj, "latent_map") and hasattr(obj, "jacobian") and hasattr(obj, "time"):
        _time(time, "MeanField", obj.time)
        return LatentDynamics(obj, inputs)
    if hasattr(obj, "weights") and hasattr(obj, "time") and hasattr(obj, "recurrent_weights"):
        _time(time, "model", obj.time)
        system = Dynamics.from_weights(obj.weights(), obj.time)
    elif isinstance(obj, LowRankNetwork):
        time = _required_time(default_time if time is None else time, "a LowRankNetwork")
        if obj.has_bulk:
            system = Dynamics(obj.dense(), obj.inputs, obj.bias, time, obj.n)
        else:
            system = Dynamics(None, obj.inputs, obj.bias, time, obj.n, (obj.m, obj.n))
    elif (found := _read_weights(obj, name)) is not None:
        weights, own = found
        if own is None:
            time = _required_time(time, f"{name} given as a dict of weights")
        else:
            _time(time, "torch RNN", own)
            time = own
        system = Dynamics.from_weights(weights, time)
    elif isinstance(obj, tuple):
        if len(obj) not in (2, 3):
            raise ValueError(
                f"{name} as a tuple must be (W, W_in) or (W, W_in, b), got {len(obj)} arrays"
            )
        time = _required_time(time, f"{name} given as arrays")
        W = as_array(obj[0], "W", ndim=2)
        N = W.shape[0]
        W = as_array(W, "W", shape=(N, N))
        W_in = as_array(obj[1], "W_in", shape=(N, None))
        b = np.zeros(N) if len(obj) == 2 else as_array(obj[2], "b", shape=(N,))
        system = Dynamics(W, W_in, b, time, np.zeros((N, 0)))
    elif isinstance(obj, np.ndarray):
        W = as_array(obj, name, ndim=2)
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"{name} as a weight matrix must be square, got shape {W.shape}")
        time = _required_time(time, "a bare weight matrix")
        N = W.shape[0]
        system = Dynamics(W, np.zeros((N, 0)), np.zeros(N), time, np.zeros((N, 0)))
    else:
        raise TypeError(
            f"{name} must be a LowRankNetwork, a lowrank.RNN, a lowrank.MeanField, a torch "
            "nn.RNN or nn.RNNCell, a dict of weights (state dict), a tuple (W, W_in[, b]) or a "
            f"square numpy array, got {type(obj).__name__}"
        )
    return system if inputs is None else system.bind(inputs)
