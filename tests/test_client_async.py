"""Asynchronous dispatch: backward() returns once its request is queued, later requests and reads wait for it,
the numbers are the synchronous session's bit for bit, and a request that fails surfaces at the next read
naming the backward() call it came from."""
from __future__ import annotations

import inspect
import threading
import time

import grpc
import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import CountingInterceptor
from gradwire import errors
from gradwire import session as gw_session
from gradwire.engine import compiled
from gradwire.service.config import ServerConfig


@pytest.fixture
def connect(server_target):
    """connect(**options) -> a session on the test server, the default one while the test runs."""
    made = []
    previous = gw_session._default

    def make(**options):
        s = gw.connect(options.pop("target", server_target), **options)
        made.append(s)
        gw_session.set_default_session(s)
        return s
    yield make
    gw_session.set_default_session(previous)
    for s in made:
        s.close()


def _train(lib, optimizer: str, steps: int = 12):
    """An MLP trained with `optimizer` (hand-written SGD in two styles, or lib.optim's); returns the losses
    read every fourth step and the final parameters, as NumPy arrays."""
    rng = np.random.default_rng(3)
    X = lib.tensor(rng.standard_normal((48, 16)).astype(np.float32))
    Y = lib.tensor(rng.integers(0, 3, 48))
    params = [lib.tensor((rng.standard_normal(s) * 0.3).astype(np.float32), requires_grad=True)
              for s in ((16, 32), (32,), (32, 3), (3,))]
    opt = {"momentum": lambda: lib.optim.SGD(params, lr=0.1, momentum=0.9),
           "adam": lambda: lib.optim.Adam(params, lr=0.01)}.get(optimizer, lambda: None)()
    losses = []
    for k in range(steps):
        W1, b1, W2, b2 = params
        loss = lib.nn.functional.cross_entropy(lib.relu(X @ W1 + b1) @ W2 + b2, Y)
        if opt is not None:
            opt.zero_grad()
        loss.backward()
        if opt is not None:
            opt.step()
        else:
            with lib.no_grad():
                for p in params:
                    if optimizer == "sub":
                        p -= 0.1 * p.grad
                        p.grad.zero_()
                    else:
                        p.data.sub_(0.1 * p.grad)
                        p.grad.data.zero_()
        if k % 4 == 3:
            losses.append(loss.item())
    return losses, [p.detach().numpy() for p in params]


@pytest.mark.parametrize("optimizer", ["sub", "data", "momentum", "adam"])
def test_an_asynchronous_loop_gives_the_synchronous_bits_and_torchs_numbers(connect, make_server, monkeypatch,
                                                                          optimizer):
    # Each on a server of its own, compiling hot plans in the request's thread: a plan run often enough moves
    # to the compiled tier, whose last bits may differ (tests/test_compiled.py), so both loops must meet the
    # same tier at the same step, not whenever a background compile happens to finish.
    monkeypatch.setattr(compiled, "synchronous", True)
    connect(target=make_server())
    sync_losses, sync_params = _train(gw, optimizer)
    counter = CountingInterceptor()
    s = connect(target=make_server(), asynchronous=True, interceptors=[counter])
    assert s.asynchronous
    losses, params = _train(gw, optimizer)
    assert losses == sync_losses
    for a, b in zip(params, sync_params):
        assert np.array_equal(a, b)
    torch_losses, torch_params = _train(torch, optimizer)
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-5)
    for a, b in zip(params, torch_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # One Gradient a step, the reads every fourth step among them (they name what the queue computed).
    assert counter.calls["Gradient"] == 12
    assert counter.calls["Evaluate"] <= 1 + 12 // 4


class _Gate(grpc.UnaryUnaryClientInterceptor):
    """Holds every Gradient call until opened."""

    def __init__(self):
        self.open = threading.Event()
        self.waiting = threading.Event()

    def intercept_unary_unary(self, continuation, details, request):
        if details.method.endswith("/Gradient"):
            self.waiting.set()
            assert self.open.wait(30), "the test never opened the gate"
        return continuation(details, request)


def test_backward_returns_before_the_server_answers_and_a_read_waits(connect):
    gate = _Gate()
    connect(asynchronous=True, interceptors=[gate])
    w = gw.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    x = gw.tensor([[0.25, 1.0]])
    loss = (gw.tanh(x @ w) ** 2).sum()
    loss.backward()                             # returns although the call is held
    assert gate.waiting.wait(10) and not gate.open.is_set()
    assert w.grad.shape == (2, 2) and w.grad.dtype == gw.float32   # known before the value is
    with gw.no_grad():
        w -= 0.5 * w.grad                       # recorded against the future gradient
    threading.Timer(0.2, gate.open.set).start()
    started = time.perf_counter()
    got = w.detach().numpy()                    # waits for the queue, then reads
    assert time.perf_counter() - started >= 0.15

    tw = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    tl = (torch.tanh(torch.tensor([[0.25, 1.0]]) @ tw) ** 2).sum()
    tl.backward()
    with torch.no_grad():
        tw -= 0.5 * tw.grad
    np.testing.assert_allclose(got, tw.detach().numpy(), rtol=1e-6)
    assert loss.item() == pytest.approx(tl.item(), rel=1e-6)


def test_gradients_accumulate_across_asynchronous_backwards(connect):
    def run(lib):
        w = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        for k in range(3):
            (lib.sin(w * (k + 1)).sum() * (k - 0.5)).backward(retain_graph=k == 0)
        return w.grad.numpy()
    connect()
    expected = run(gw)
    connect(asynchronous=True)
    assert np.array_equal(run(gw), expected)
    np.testing.assert_allclose(expected, run(torch), rtol=1e-6)


def test_grad_and_create_graph_stay_synchronous_in_an_asynchronous_session(connect):
    connect(asynchronous=True)
    x = gw.tensor([0.5, -1.5, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = gw.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([0.5, -1.5, 2.0]) ** 2, rtol=1e-6)
    g.sum().backward()                          # second order: queued like any backward
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, -1.5, 2.0]), rtol=1e-6)


def test_a_failed_asynchronous_backward_raises_at_the_next_read_naming_its_line(serve, connect):
    with serve(ServerConfig(max_nodes=40, warm_up=False)) as (target, _):
        connect(target=target, asynchronous=True)
        w = gw.tensor([0.5, 1.0], requires_grad=True)
        y = w
        for _ in range(45):                     # past the server's 40 nodes
            y = gw.sin(y)
        loss = y.sum()
        line = inspect.currentframe().f_lineno + 1
        loss.backward()
        with pytest.raises(errors.ResourceExhausted) as info:
            loss.item()
        assert f"{__file__}:{line}" in info.value.message
        assert "--max-nodes" in info.value.message
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The gradient it never computed raises the same error whenever it is used; the session goes on.
        with pytest.raises(errors.ResourceExhausted, match=f"{line}"):
            w.grad.numpy()
        assert (gw.tensor([1.0, 2.0]) * 3).tolist() == [3.0, 6.0]
        z = gw.tensor([2.0], requires_grad=True)
        (z * z).sum().backward()
        assert z.grad.tolist() == [4.0]


def test_closing_a_session_with_a_queued_backward_waits_for_it(connect):
    gate = _Gate()
    s = connect(asynchronous=True, interceptors=[gate])
    w = gw.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    assert gate.waiting.wait(10)
    threading.Timer(0.1, gate.open.set).start()
    s.close()                                   # no error, no hang: the queued request finished first
    assert s.closed and gate.open.is_set()


def test_the_environment_turns_asynchronous_dispatch_on(server_target, monkeypatch):
    monkeypatch.setenv("GRADWIRE_ASYNC", "1")
    with gw.connect(server_target) as s:
        assert s.asynchronous
    with gw.connect(server_target, asynchronous=False) as s:
        assert not s.asynchronous
    monkeypatch.setenv("GRADWIRE_ASYNC", "0")
    with gw.connect(server_target) as s:
        assert not s.asynchronous


def test_a_server_lost_under_a_queued_backward_is_a_clear_error_and_a_restart_between_steps_is_not(
        server_process, connect):
    """Killed between steps (after synchronize()), a new server continues from what the client holds, as in
    a synchronous session; killed under a queued backward, the read raises UNAVAILABLE naming that call, and
    what was computed from the lost gradient raises it too: never a wrong value."""
    import signal
    from test_client_resident import _mlp, _mlp_step, _torch_params

    proc, target = server_process("--processes", "1")
    port = target.rsplit(":", 1)[1]
    s = connect(target=target, asynchronous=True)
    X, Y, params = _mlp(gw)
    for k in range(4):
        _mlp_step(gw, X, Y, params)
        if k in (0, 2):
            s.synchronize()
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            proc = _restart(server_process, port)
    for a, b in zip([p.detach().numpy() for p in params], _torch_params(4)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    gate = _Gate()
    connect(target=target, asynchronous=True, interceptors=[gate])
    X, Y, params = _mlp(gw)
    _mlp_step(gw, X, Y, params)             # the frame that calls backward() is the one named
    assert gate.waiting.wait(10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    gate.open.set()
    with pytest.raises(errors.Unavailable) as info:
        params[0].detach().numpy()
    backward_line = next(k for k, text in enumerate(inspect.getsource(_mlp_step).splitlines())
                         if ".backward()" in text) + _mlp_step.__code__.co_firstlineno
    assert f"test_client_resident.py:{backward_line} in _mlp_step" in info.value.message
    # The update computed from the lost gradient raises it again; the gradient itself was zeroed since.
    with pytest.raises(errors.Unavailable, match="dispatched asynchronously"):
        params[0].detach().numpy()
    assert not params[0].grad.numpy().any()


def _restart(server_process, port):
    for attempt in range(40):       # the killed process's socket may take a moment to close
        try:
            return server_process("--processes", "1", "--port", port)[0]
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == 39:
                raise
            time.sleep(0.25)
