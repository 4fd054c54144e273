"""Recurrent layers (torch.nn's RNN, LSTM, GRU and their cells), unrolled from the client's ops: one linear
over every time step for the input side, then per step the hidden side and the gates, as PyTorch's CPU kernels
order them. Parameters, their names and order, initialization, reprs, shapes and errors are PyTorch's.
PackedSequence input is not supported."""
from __future__ import annotations

import math
import numbers

import gradwire as gw
from gradwire import devices
from gradwire._user_frame import warn

from . import functional as F
from . import init
from .module import Module, Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _cell(mode: str, x_part, h, c, w_hh, b_hh, w_hr=None):
    """One step: (h', c') from the input's share of the gates (x W_ih^T + b_ih) and the state."""
    hh = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return (hh + x_part).tanh(), None
    if mode == "RNN_RELU":
        return (hh + x_part).relu(), None
    if mode == "LSTM":
        i, f, g, o = (hh + x_part).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h if w_hr is None else F.linear(h, w_hr)), c
    xr, xz, xn = x_part.chunk(3, 1)
    hr, hz, hn = hh.chunk(3, 1)
    r, z = (hr + xr).sigmoid(), (hz + xz).sigmoid()
    n = (xn + hn * r).tanh()
    return (h - n) * z + n, None


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        devices.check(device)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                 f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}")
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
            if kind is int and value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        dtype = dtype or gw.float32
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(directions):
                shapes = [("weight_ih_l{}{}", (gate_size, input_size if layer == 0 else real_hidden * directions)),
                          ("weight_hh_l{}{}", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                names = []
                for pattern, shape in shapes:
                    name = pattern.format(layer, "_reverse" if direction else "")
                    setattr(self, name, Parameter(gw.empty(shape, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Nothing to do: there is no fused weight buffer to compact."""

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    def _state_shape(self, batch: int, size: int):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    def _check(self, input, states, names) -> None:
        weight = self._flat_weights[0]
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{input.size(-1)}")
        batch = input.size(1)      # (time-major here)
        sizes = (self.proj_size or self.hidden_size, self.hidden_size)
        for state, size, name in zip(states, sizes, names):
            expected = self._state_shape(batch, size)
            if tuple(state.shape) != expected:
                raise RuntimeError(f"Expected {name} size {expected}, got {list(state.shape)}")

    def _run(self, input, hx):
        """input (T, B, F) and the initial states, each (layers * directions, B, H): (output, final states)."""
        lstm = self.mode == "LSTM"
        h0, c0 = hx if lstm else (hx, None)
        directions = 2 if self.bidirectional else 1
        x, last_h, last_c = input, [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [getattr(self, n) for n in self._all_weights[k]]
                w_ih, w_hh = weights[:2]
                b_ih, b_hh = (weights[2], weights[3]) if self.bias else (None, None)
                w_hr = weights[-1] if self.proj_size > 0 else None
                x_parts = F.linear(x, w_ih, b_ih)
                h, c = h0[k], (c0[k] if lstm else None)
                steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
                hs = [None] * x.shape[0]
                for t in steps:
                    h, c = _cell(self.mode, x_parts[t], h, c, w_hh, b_hh, w_hr)
                    hs[t] = h
                outs.append(gw.stack(hs))
                last_h.append(h)
                last_c.append(c)
            x = outs[0] if directions == 1 else gw.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = gw.stack(last_h)
        return x, ((h_n, gw.stack(last_c)) if lstm else h_n)

    def forward(self, input, hx=None):
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)
        if not isinstance(input, gw.Tensor):
            raise NotImplementedError(f"{name}: only tensor inputs are supported (no PackedSequence)")
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D"
                             + (" tensor instead" if name == "RNN" else " instead"))
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        batch = input.shape[1]
        lstm = self.mode == "LSTM"
        if hx is None:
            zeros = gw.zeros(self._state_shape(batch, self.proj_size or self.hidden_size), dtype=input.dtype)
            hx = (zeros, gw.zeros(self._state_shape(batch, self.hidden_size), dtype=input.dtype)) if lstm else zeros
        elif lstm:
            want = 3 if batched else 2
            if hx[0].dim() != want or hx[1].dim() != want:
                raise RuntimeError(f"For {'batched 3-D' if batched else 'unbatched 2-D'} input, hx and cx should "
                                   f"also be {want}-D but got ({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            if not batched:
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        else:
            want = 3 if batched else 2
            if hx.dim() != want:
                raise RuntimeError(f"For {'batched 3-D' if batched else 'unbatched 2-D'} input, hx should also be "
                                   f"{want}-D but got {hx.dim()}-D tensor")
            if not batched:
                hx = hx.unsqueeze(1)
        self._check(input, hx if lstm else (hx,), ("hidden[0]", "hidden[1]") if lstm else ("hidden",))
        output, state = self._run(input, hx)
        if not batched:
            output = output.squeeze(1)
            state = (state[0].squeeze(1), state[1].squeeze(1)) if lstm else state.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, state


class RNN(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        devices.check(device)
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        dtype = dtype or gw.float32
        gates = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(gw.empty((gates, input_size), dtype=dtype))
        self.weight_hh = Parameter(gw.empty((gates, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(gw.empty(gates, dtype=dtype))
            self.bias_hh = Parameter(gw.empty(gates, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, input, hx):
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        states = hx if isinstance(hx, tuple) else (hx,)
        for k, h in enumerate(states):
            if h is not None and h.dim() not in (1, 2):
                what = f"hx[{k}]" if isinstance(hx, tuple) else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            states = [gw.zeros(input.size(0), self.hidden_size, dtype=input.dtype)] * n_states
        else:
            states = [h if batched else h.unsqueeze(0) for h in states]
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for k, h in enumerate(states):
            if input.size(0) != h.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{k} batch size {h.size(0)}")
            if h.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {h.size(1)}, expected "
                                   f"{self.hidden_size}")
        h, c = _cell(self.mode, F.linear(input, self.weight_ih, self.bias_ih), states[0],
                     states[1] if n_states == 2 else None, self.weight_hh, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), (None if c is None else c.squeeze(0))
        return (h, c) if self.mode == "LSTM" else h


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__("RNN_TANH", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):     # (PyTorch checks it here, not when built)
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        self.mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)
