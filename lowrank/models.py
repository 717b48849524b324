"""Trainable recurrent networks in torch, full rank or rank-R parametrised.

Discrete time, as torch ``nn.RNN`` (Turner & Barak, NeurIPS 2023):

    h_{t+1} = tanh(W h_t + W_in u_t + b  (+ noise xi_t)),    y_t = W_out h_t + b_out,

Euler-discretised continuous time with leak alpha = dt / tau (their continuous-time model):

    x_{t+1} = (1 - alpha) x_t + alpha (W tanh(x_t) + W_in u_t + b) + sqrt(alpha) noise xi_t,
    y_t = W_out tanh(x_t) + b_out,

with xi_t ~ N(0, I), drawn only in training mode. With ``rank=R`` the trained parameters are m, n
(N, R) and W = m n^T / N, the convention of ``lowrank.LowRankNetwork`` (loadings of order one), so
``to_network`` needs no rescaling.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from ._checks import as_array, as_float, as_int, choose
from .network import LowRankNetwork

__all__ = ["RNN"]

TIMES = ("discrete", "continuous")
INITS = ("uniform", "gaussian")


class RNN(nn.Module):
    """A tanh RNN with a linear readout, full rank or with W = m n^T / N.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Input channels K, neurons N, outputs.
    rank : int, optional
        None trains the full N x N matrix ``weight_rec``; R trains ``m``, ``n`` (N, R).
    time : str
        "discrete" (torch ``nn.RNN`` update) or "continuous" (Euler steps with leak ``alpha``).
    alpha : float
        dt / tau in (0, 1] for continuous time (0.2 in Turner & Barak 2023); unused in discrete
        time.
    noise : float
        Standard deviation of the noise added to the pre-activation in training mode (discrete) or
        of the Euler-Maruyama increment per unit time (continuous).
    bias : bool
        Train a recurrent bias b (torch ``nn.RNN`` has two, b_ih + b_hh; here they are one vector).
    readout_bias : bool
        Train the readout bias b_out.
    init : str
        "uniform" (default): the defaults of torch ``nn.RNN`` and ``nn.Linear``, which Turner &
        Barak (NeurIPS 2023) train from: U(-1/sqrt(N), 1/sqrt(N)) for every weight and bias, and
        for rank R, m and n uniform in (-1, 1) (their U(-1/sqrt(N), 1/sqrt(N)) rescaled to the 1/N
        convention). Its small recurrent weights (spectral radius ~ 1/sqrt(3)) let training set
        how many eigenvalues leave the unit circle, which Turner & Barak's task-mode ordering rests
        on. "gaussian" (the random networks of Sompolinsky et al. 1988 and the loadings of order
        one of Dubreuil et al. 2022): W = gain * chi with chi_ij ~ N(0, 1/N) (full rank) or
        m, n ~ N(0, gain^2) (rank R); W_in ~ N(0, 1), W_out ~ N(0, 1/N), zero biases; at gain 1
        the bulk sits on the unit circle from the start.
    gain : float
        Gain g of the Gaussian initialisation (unused by "uniform").
    seed : int
        Seed of the initial weights.

    Attributes
    ----------
    weight_in : Parameter (N, K)
    weight_rec : Parameter (N, N), full rank only
    m, n : Parameter (N, R), rank R only
    bias : Parameter (N,), when ``bias``
    weight_out : Parameter (n_out, N)
    bias_out : Parameter (n_out,), when ``readout_bias``
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        rank: int | None = None,
        time: str = "discrete",
        alpha: float = 0.2,
        noise: float = 0.0,
        bias: bool = False,
        readout_bias: bool = True,
        init: str = "uniform",
        gain: float = 1.0,
        seed: int = 0,
    ):
        super().__init__()
        self.n_in = as_int(n_in, "n_in", minimum=1)
        self.n_hidden = N = as_int(n_hidden, "n_hidden", minimum=1)
        self.n_out = as_int(n_out, "n_out", minimum=1)
        self.rank = None if rank is None else as_int(rank, "rank", minimum=1, maximum=N)
        self.time = choose(time, "time", TIMES)
        self.alpha = as_float(alpha, "alpha", positive=True)
        if self.alpha > 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        self.noise = as_float(noise, "noise", minimum=0.0)
        for name, flag in (("bias", bias), ("readout_bias", readout_bias)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {type(flag).__name__}")
        self.init = choose(init, "init", INITS)
        self.gain = as_float(gain, "gain", positive=True)
        self.seed = as_int(seed, "seed", minimum=0)
        shapes = {"weight_in": (N, self.n_in)}
        shapes.update(
            {"weight_rec": (N, N)}
            if self.rank is None
            else {"m": (N, self.rank), "n": (N, self.rank)}
        )
        if bias:
            shapes["bias"] = (N,)
        shapes["weight_out"] = (self.n_out, N)
        if readout_bias:
            shapes["bias_out"] = (self.n_out,)
        generator = torch.Generator().manual_seed(self.seed)
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(self._initial(name, shape, generator)))
        # weightless templates (noise-free, and with N noise channels) whose fused loop runs our
        # tensors through functional_call; a dict keeps them out of the module's parameters
        self._templates = {
            noisy: nn.RNN(self.n_in + noisy * N, N, batch_first=True, device="meta")
            for noisy in (0, 1)
        }

    def _initial(self, name: str, shape: tuple, generator: torch.Generator) -> torch.Tensor:
        N = self.n_hidden
        out = torch.empty(shape)
        if self.init == "uniform":
            bound = 1.0 if name in ("m", "n") else N**-0.5
            return out.uniform_(-bound, bound, generator=generator)
        std = {
            "weight_rec": self.gain / N**0.5,
            "m": self.gain,
            "n": self.gain,
            "weight_in": 1.0,
            "weight_out": N**-0.5,
        }
        if name in std:
            return out.normal_(0.0, std[name], generator=generator)
        return out.zero_()

    def config(self) -> dict:
        """Constructor arguments, JSON-ready: ``RNN(**model.config())`` is the initial model."""
        return {
            "n_in": self.n_in,
            "n_hidden": self.n_hidden,
            "n_out": self.n_out,
            "rank": self.rank,
            "time": self.time,
            "alpha": self.alpha,
            "noise": self.noise,
            "bias": "bias" in self._parameters,
            "readout_bias": "bias_out" in self._parameters,
            "init": self.init,
            "gain": self.gain,
            "seed": self.seed,
        }

    def recurrent(self) -> torch.Tensor:
        """W as a differentiable tensor (N, N)."""
        if self.rank is None:
            return self.weight_rec
        return self.m @ self.n.T / self.n_hidden

    def _check_inputs(self, inputs) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                f"inputs must be a torch.Tensor (batch, time, {self.n_in}); use run() for numpy"
            )
        if inputs.ndim != 3 or inputs.shape[2] != self.n_in:
            raise ValueError(
                f"inputs must have shape (batch, time, {self.n_in}), got {tuple(inputs.shape)}"
            )
        return inputs.to(self.weight_in.dtype)

    def forward(
        self,
        inputs: torch.Tensor,
        h0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network over a batch.

        Parameters
        ----------
        inputs : Tensor (batch, time, n_in)
        h0 : Tensor (batch, N), optional
            Initial state (zeros by default).
        generator : torch.Generator, optional
            Source of the training noise (the global torch generator if None).

        Returns
        -------
        outputs : Tensor (batch, time, n_out)
        states : Tensor (batch, time, N)
            h_t (discrete) or x_t (continuous) after each step.
        """
        inputs = self._check_inputs(inputs)
        batch, N = inputs.shape[0], self.n_hidden
        if h0 is None:
            h0 = inputs.new_zeros(batch, N)
        elif tuple(h0.shape) != (batch, N):
            raise ValueError(f"h0 must have shape ({batch}, {N}), got {tuple(h0.shape)}")
        noisy = self.training and self.noise > 0
        xi = None
        if noisy:
            xi = torch.randn(inputs.shape[:2] + (N,), generator=generator, device=inputs.device)
        bias = self._parameters.get("bias")
        if self.time == "discrete":
            states = self._discrete(inputs, h0, bias, xi)
            rates = states
        else:
            states = self._continuous(inputs, h0, bias, xi)
            rates = torch.tanh(states)
        return nn.functional.linear(
            rates, self.weight_out, self._parameters.get("bias_out")
        ), states

    def _discrete(self, inputs, h0, bias, xi):
        weight_in = self.weight_in
        if xi is not None:  # noise enters the pre-activation as N extra input channels
            inputs = torch.cat([inputs, xi], dim=2)
            weight_in = torch.cat(
                [weight_in, self.noise * torch.eye(self.n_hidden, device=inputs.device)], 1
            )
        zeros = h0.new_zeros(self.n_hidden)
        params = {
            "weight_ih_l0": weight_in,
            "weight_hh_l0": self.recurrent(),
            "bias_ih_l0": zeros if bias is None else bias,
            "bias_hh_l0": zeros,
        }
        template = self._templates[int(xi is not None)]
        if not inputs.is_cuda:
            return torch.func.functional_call(template, params, (inputs, h0[None]))[0]
        with warnings.catch_warnings():  # cuDNN copies our (unflattened) weights: expected
            warnings.filterwarnings("ignore", message="RNN module weights are not part")
            return torch.func.functional_call(template, params, (inputs, h0[None]))[0]

    def _continuous(self, inputs, h0, bias, xi):
        drive = inputs @ self.weight_in.T
        if bias is not None:
            drive = drive + bias
        if xi is not None:
            drive = (
                drive + self.noise * xi / self.alpha**0.5
            )  # alpha * drive adds sqrt(alpha) noise xi
        x, states = h0, []
        for t in range(inputs.shape[1]):
            r = torch.tanh(x)
            if self.rank is None:
                recurrent = r @ self.weight_rec.T
            else:
                recurrent = (r @ self.n / self.n_hidden) @ self.m.T
            x = (1.0 - self.alpha) * x + self.alpha * (recurrent + drive[:, t])
            states.append(x)
        return torch.stack(states, dim=1)

    def run(self, inputs, h0=None) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free outputs and states for numpy inputs (batch, time, n_in), without gradients.

        Raises
        ------
        TypeError, ValueError
            If ``inputs`` or ``h0`` is not a finite real array of the right shape, or ``inputs``
            holds no trial or no time step.
        """
        device = self.weight_in.device
        inputs = as_array(inputs, "inputs", ndim=3, shape=(None, None, self.n_in), allow_empty=True)
        if 0 in inputs.shape[:2]:
            raise ValueError(
                f"inputs must hold at least one trial and one time step (batch, time, {self.n_in}),"
                f" got shape {inputs.shape}"
            )
        inputs = torch.as_tensor(inputs, dtype=self.weight_in.dtype, device=device)
        if h0 is not None:
            h0 = as_array(h0, "h0", shape=(inputs.shape[0], self.n_hidden))
            h0 = torch.as_tensor(h0, dtype=self.weight_in.dtype, device=device)
        mode = self.training
        self.eval()
        try:
            with torch.no_grad():
                outputs, states = self(inputs, h0)
        finally:
            self.train(mode)
        return outputs.cpu().numpy(), states.cpu().numpy()

    def weights(self) -> dict[str, np.ndarray]:
        """Copies of all parameters as numpy arrays, by name."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.named_parameters()}

    def set_weights(self, weights: dict) -> RNN:
        """Load parameters from numpy arrays (as returned by ``weights``); returns the model.

        Every array is checked (finite, real, the parameter's shape) before any is loaded, so a
        refused call leaves the model as it was.
        """
        names = dict(self.named_parameters())
        if not isinstance(weights, dict) or set(weights) != set(names):
            got = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
            raise ValueError(f"weights must be a dict with keys {sorted(names)}, got {got}")
        values = {
            name: as_array(weights[name], f"weights[{name!r}]", shape=tuple(p.shape),
                           allow_empty=True)
            for name, p in names.items()
        }
        with torch.no_grad():
            for name, p in names.items():
                p.copy_(torch.as_tensor(values[name]))
        return self

    def recurrent_weights(self) -> np.ndarray:
        """W (N, N) as a float64 numpy array (for rank R, m n^T / N formed in float64)."""
        w = self.weights()
        if self.rank is None:
            return w["weight_rec"].astype(np.float64)
        return w["m"].astype(np.float64) @ w["n"].T.astype(np.float64) / self.n_hidden

    def to_network(self) -> LowRankNetwork:
        """The trained rank-R model as ``LowRankNetwork(m, n, inputs=W_in, bias=b)``, float64."""
        if self.rank is None:
            raise ValueError(
                "to_network needs a rank-R model (rank=None trains a full matrix); "
                "project a full-rank model onto its leading singular vectors instead"
            )
        w = {name: value.astype(np.float64) for name, value in self.weights().items()}
        return LowRankNetwork(w["m"], w["n"], inputs=w["weight_in"], bias=w.get("bias"))

    def extra_repr(self) -> str:
        rank = "full" if self.rank is None else self.rank
        sizes = f"n_in={self.n_in}, n_hidden={self.n_hidden}, n_out={self.n_out}"
        return f"{sizes}, rank={rank}, time={self.time!r}"
