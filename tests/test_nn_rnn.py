"""nn.RNN, nn.LSTM, nn.GRU and their cells against PyTorch: one random state dict in both libraries, the same
inputs; outputs, final states and the gradients of the input, the initial states and every parameter; parameter
names, reprs, warnings and errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import session  # noqa: F401
from torch_diff import outcomes, same_outcomes_and_warnings

T, B, IN, H = 4, 3, 5, 6


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in _flat(x)]
    return [] if out is None else [out]


def _run(lib, make, state, arrays, dtype, train):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = make(lib)
    m = m.to(getattr(lib, dtype))
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    m.train(train)
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = _flat(m(xs[0], None if len(xs) == 1 else (xs[1] if len(xs) == 2 else (xs[1], xs[2]))))
    sum(((o * o).sum() for o in out), lib.zeros((), dtype=getattr(lib, dtype))).backward()
    values = [o.detach().numpy() for o in out] + [x.grad.numpy() for x in xs] + \
        [p.grad.numpy() for _, p in m.named_parameters()]
    return values, [(n, tuple(p.shape)) for n, p in m.named_parameters()], [str(w.message) for w in caught], repr(m)


def _same(make, arrays, dtype="float64", train=False):
    rng = np.random.default_rng(0)
    state = {k: rng.normal(0, 0.4, tuple(v.shape)).astype(dtype) for k, v in make(torch).state_dict().items()}
    arrays = [a.astype(dtype) for a in arrays]
    ours, theirs = (_run(lib, make, state, arrays, dtype, train) for lib in (gw, torch))
    assert ours[1:] == theirs[1:]          # names and shapes, construction warnings, repr
    tol = 1e-10 if dtype == "float64" else 2e-5
    assert len(ours[0]) == len(theirs[0])
    for k, (a, b) in enumerate(zip(ours[0], theirs[0])):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"value {k}")


def _states(rng, cls, layers, directions, batch, proj=0):
    h = rng.normal(size=(layers * directions,) + ((batch,) if batch else ()) + (proj or H,))
    if cls != "LSTM":
        return [h]
    return [h, rng.normal(size=(layers * directions,) + ((batch,) if batch else ()) + (H,))]


CONFIGS = [({}, {}), ({"num_layers": 2}, {}), ({"num_layers": 3, "bidirectional": True}, {}),
           ({"batch_first": True}, {}), ({"bias": False, "bidirectional": True}, {}), ({}, {"unbatched": True}),
           ({"num_layers": 2}, {"hx": True}), ({"bidirectional": True}, {"hx": True, "unbatched": True}),
           ({"num_layers": 2, "dropout": 0.3}, {})]


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config, how", CONFIGS)
def test_recurrent_layers_as_torch(cls, config, how):
    rng = np.random.default_rng(1)
    batch = None if how.get("unbatched") else B
    shape = (T, IN) if batch is None else ((B, T, IN) if config.get("batch_first") else (T, B, IN))
    arrays = [rng.normal(size=shape)]
    if how.get("hx"):
        arrays += _states(rng, cls, config.get("num_layers", 1), 2 if config.get("bidirectional") else 1, batch)
    _same(lambda lib: getattr(lib.nn, cls)(IN, H, **config), arrays)


@pytest.mark.parametrize("config", [{"nonlinearity": "relu"}, {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}])
def test_relu_rnn_as_torch(config):
    rng = np.random.default_rng(2)
    _same(lambda lib: lib.nn.RNN(IN, H, **config), [rng.normal(size=(T, B, IN))])


@pytest.mark.parametrize("config", [{"proj_size": 2}, {"proj_size": 3, "num_layers": 2, "bidirectional": True}])
def test_lstm_projections_as_torch(config):
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(T, B, IN))] + _states(rng, "LSTM", config.get("num_layers", 1),
                                                     2 if config.get("bidirectional") else 1, B, config["proj_size"])
    _same(lambda lib: lib.nn.LSTM(IN, H, **config), arrays)
    _same(lambda lib: lib.nn.LSTM(IN, H, **config), arrays[:1], dtype="float32")


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched, with_state, bias", [(True, False, True), (True, True, True), (False, True, True),
                                                       (True, True, False), (False, False, True)])
def test_cells_as_torch(cls, batched, with_state, bias):
    rng = np.random.default_rng(4)
    lead = (B,) if batched else ()
    arrays = [rng.normal(size=lead + (IN,))]
    if with_state:
        arrays += [rng.normal(size=lead + (H,)) for _ in range(2 if cls == "LSTMCell" else 1)]

    _same(lambda lib: getattr(lib.nn, cls)(IN, H, bias=bias), arrays)


def test_dropout_between_layers_in_training():
    rng = np.random.default_rng(5)
    x = gw.tensor(rng.normal(size=(T, B, IN)).astype(np.float32))
    m = gw.nn.LSTM(IN, H, num_layers=2, dropout=0.5)
    m.eval()
    a = m(x)[0].detach().numpy()
    m.train()
    b = m(x)[0].detach().numpy()
    assert a.shape == b.shape == (T, B, H) and not np.allclose(a, b)
    np.testing.assert_array_equal(m.eval()(x)[0].detach().numpy(), a)


def test_reprs_errors_and_warnings_as_torch():
    def cases(lib):
        nn = lib.nn
        return outcomes([
            lambda: [repr(nn.RNN(4, 5, nonlinearity="relu")), repr(nn.GRU(4, 5, 2, bias=False, batch_first=True)),
                     repr(nn.LSTM(4, 5, 2, bidirectional=True, proj_size=3, dropout=0.5)),
                     repr(nn.RNNCell(4, 5, nonlinearity="relu", bias=False)), repr(nn.LSTMCell(4, 5))],
            lambda: nn.RNN(4, 5, nonlinearity="sigmoid"), lambda: nn.LSTM(4, 5, dropout=1.5),
            lambda: nn.LSTM(4, 5, proj_size=5), lambda: nn.GRU(0, 5), lambda: nn.GRU(4, 5, num_layers=0),
            lambda: nn.RNN(4, 5)(lib.ones(2, 3, 4, 5)), lambda: nn.LSTM(4, 5)(lib.ones(2, 3, 6)),
            lambda: nn.GRU(4, 5)(lib.ones(2, 3, 4), lib.ones(1, 2, 5)),
            lambda: nn.LSTM(4, 5)(lib.ones(2, 3, 4), (lib.ones(1, 3, 5), lib.ones(1, 3, 4))),
            lambda: nn.LSTM(4, 5)(lib.ones(2, 3, 4), (lib.ones(3, 5), lib.ones(3, 5))),
            lambda: nn.RNN(4, 5)(lib.ones(2, 4), lib.ones(1, 1, 5)),
            lambda: nn.LSTM(4, 5)(lib.ones(2, 3, 4, dtype=lib.float64)),
            lambda: nn.RNNCell(10, 20)(lib.ones(3, 5)), lambda: nn.RNNCell(10, 20)(lib.ones(3, 10), lib.ones(3, 7)),
            lambda: nn.RNNCell(10, 20)(lib.ones(3, 10), lib.ones(4, 20)),
            lambda: nn.LSTMCell(10, 20)(lib.ones(3, 10), (lib.ones(3, 20), lib.ones(3, 7))),
            lambda: nn.GRUCell(10, 20)(lib.ones(2, 3, 10)), lambda: nn.RNNCell(10, 20, nonlinearity="x")(lib.ones(10)),
            lambda: [n for n, _ in nn.LSTM(4, 5, 2, bidirectional=True).named_parameters()],
            lambda: [[tuple(w.shape) for w in ws] for ws in nn.GRU(4, 5, 2).all_weights]])
    same_outcomes_and_warnings(cases)


def test_lstm_language_model_trains_as_torch():
    """Embedding, LSTM, Linear and cross entropy: a few SGD steps give PyTorch's parameters."""
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, 11, (7, 4))
    targets = rng.integers(0, 11, (7, 4))

    def train(lib):
        class LM(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.nn.Embedding(11, 5)
                self.rnn = lib.nn.LSTM(5, 8, num_layers=2)
                self.out = lib.nn.Linear(8, 11)

            def forward(self, x):
                return self.out(self.rnn(self.emb(x))[0])
        m = LM()
        init = np.random.default_rng(7)
        m.load_state_dict({k: lib.tensor(init.normal(0, 0.3, tuple(v.shape)).astype(np.float32))
                           for k, v in m.state_dict().items()})
        opt = lib.optim.SGD(m.parameters(), lr=0.5)
        for _ in range(4):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(lib.tensor(tokens)).reshape(-1, 11), lib.tensor(targets).reshape(-1))
            loss.backward()
            lib.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
        return [p.detach().numpy() for p in m.parameters()]
    for a, b in zip(train(gw), train(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
