"""Resident values: a tensor's bytes cross the wire once, results stay on the server until read, callers
are isolated, and a server that loses values (eviction, restart) costs a resend, never a wrong value."""
from __future__ import annotations

import contextlib
import gc
import signal
import time

import grpc
import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import CountingInterceptor, full_nodes
from gradwire import session as gw_session
from gradwire.core import codec, hashing
from gradwire.service.config import ServerConfig
from gradwire.service.resident import caller
from gradwire.service.server import server_state
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


def sizes(counter) -> list[tuple[str, int]]:
    return [(m, r.ByteSize()) for m, r in counter.requests]


def _mlp_step(lib, X, Y, params, lr=0.1, style="sub"):
    W1, b1, W2, b2 = params
    logits = lib.relu(X @ W1 + b1) @ W2 + b2
    loss = -(lib.log_softmax(logits, 1)[lib.arange(X.shape[0]), Y]).mean()
    loss.backward()
    with lib.no_grad():
        for p in params:
            if style == "sub":
                p -= lr * p.grad
                p.grad.zero_()
            else:                         # through temporary .data aliases, as optimizers from scratch do
                p.data.sub_(lr * p.grad)
                p.grad.data.zero_()
    return loss


def _mlp(lib, seed=0):
    rng = np.random.default_rng(seed)
    X = lib.tensor(rng.standard_normal((64, 32)).astype(np.float32))
    Y = lib.tensor(rng.integers(0, 4, 64))
    params = [lib.tensor((rng.standard_normal(s) * 0.3).astype(np.float32), requires_grad=True)
              for s in ((32, 64), (64,), (64, 4), (4,))]
    return X, Y, params


def _train(lib, session_steps):
    """Train the MLP, calling between(k) after step k (to kill servers, say); returns the parameters."""
    X, Y, params = _mlp(lib)
    for k, between in enumerate(session_steps):
        _mlp_step(lib, X, Y, params)
        between()
    return params


def _torch_params(steps):
    return [p.detach().numpy() for p in _train(torch, [lambda: None] * steps)]


def _identity_request(tensor, release=()) -> pb.EvaluateRequest:
    """A resident Evaluate of one placeholder fed `tensor`, its value fetched; releasing `release` first."""
    g = pb.Graph(nodes=[pb.Node(op="placeholder")])
    codec.attr_to_proto("x", g.nodes[0].attrs["name"])
    r = pb.EvaluateRequest(outputs=[0], graph=pb.GraphRef(parts=[pb.GraphPart(graph=g)]))
    r.inputs["x"].CopyFrom(tensor)
    r.options.resident = True
    r.options.fetch[:] = [0]
    r.options.release[:] = release
    return r


@contextlib.contextmanager
def _two_callers(serve):
    """A raw stub on a fresh server, a 16 kB value, its hash, it as bytes and as a handle, and two callers'
    metadata."""
    value = np.arange(4096, dtype=np.float32)
    h = hashing.tensor_hash(codec.dtype_enum(value.dtype), value.shape, value)
    with serve() as (target, _), grpc.insecure_channel(target) as ch:
        by_bytes = codec.tensor_to_proto(value)
        by_handle = pb.Tensor(dtype=by_bytes.dtype, shape=by_bytes.shape, handle=h)
        yield (pb_grpc.AutodiffStub(ch), value, h, by_bytes, by_handle, (("x-gradwire-namespace", "alice"),),
               (("x-gradwire-namespace", "bob"),))


def test_bytes_cross_once_and_results_stay_until_read(serve):
    counter = CountingInterceptor()
    with serve() as (target, _), gw.connect(target, interceptors=[counter], shared_memory=False) as s:
        x = s.tensor(np.arange(20000, dtype=np.float32))          # 80 kB
        y = x * 2
        first = (y + 1).sum().item()
        counter.reset()
        for k in range(3):
            assert (x * k).sum().item() == pytest.approx(k * 199990000.0, rel=1e-5)
        assert all(size < 2000 for _, size in sizes(counter)), sizes(counter)    # x went by handle
        assert y._node.value is None and y._node.resident       # computed, kept on the server, not sent
        counter.reset()
        np.testing.assert_array_equal(y.numpy(), np.arange(20000, dtype=np.float32) * 2)
        assert counter.calls == {"Evaluate": 1} and sizes(counter)[0][1] < 2000
        assert first == pytest.approx(float((np.arange(20000, dtype=np.float64) * 2 + 1).sum()), rel=1e-5)


def test_same_host_results_come_back_in_shared_memory_not_kept(serve):
    """With shared memory, a result the client holds comes back in one of its regions, not by handle: no bytes on
    the wire, nothing for the server to hash and keep, and nothing any replica must hold for a later request."""
    counter = CountingInterceptor()
    with serve() as (target, server), gw.connect(target, interceptors=[counter]) as s:
        x = s.tensor(np.arange(20000, dtype=np.float32))          # 80 kB: travels in a region
        y = x * 2
        assert (y + 1).sum().item() == pytest.approx(float((np.arange(20000.0) * 2 + 1).sum()), rel=1e-5)
        assert s.shared_memory() is not None
        assert y._node.value is not None and y._node.resident is None
        assert server_state(server).service.store.bytes == 0
        assert all(size < 2000 for _, size in sizes(counter)), sizes(counter)
        counter.reset()
        np.testing.assert_array_equal(y.numpy(), np.arange(20000, dtype=np.float32) * 2)
        assert counter.calls == {}                                # read where it is: no request


@pytest.mark.parametrize("style", ["sub", "data"])
def test_training_loop_keeps_parameters_resident_and_matches_torch(serve, style):
    counter = CountingInterceptor()
    with serve() as (target, _), gw.connect(target, interceptors=[counter]) as s:
        previous = gw_session._default
        gw_session.set_default_session(s)
        try:
            X, Y, params = _mlp(gw)
            _mlp_step(gw, X, Y, params, style=style)
            counter.reset()
            for _ in range(5):
                _mlp_step(gw, X, Y, params, style=style)
            assert counter.calls == {"Gradient": 5}
            assert all(full_nodes(r) == 0 for _, r in counter.requests[1:])  # the same graph, by hash
            # The data and the large parameter go by handle: a request is the graph by hash, handles, and the
            # small tensors (under 4 KiB, which always travel as bytes) — not the 16 kB of data and weights.
            assert max(size for _, size in sizes(counter)) < 6000, sizes(counter)
            got = [p.detach().numpy() for p in params]
        finally:
            gw_session.set_default_session(previous)
    for a, b in zip(got, _torch_params(6)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _store_sizes(store, steps):
    """store.bytes after each call of steps()."""
    sizes = []
    for step in steps:
        step()
        sizes.append(store.bytes)
    return sizes


@pytest.mark.parametrize("optimizer", [None, "sgd-momentum", "adam"])
def test_a_long_loop_keeps_the_server_store_and_the_lineage_bounded(serve, optimizer):
    """Every step makes new parameters and gradients (and optimizer state) on the server; the ones no
    tensor names any more are released with the next request, and values left unread for
    MAX_UNREAD_UPDATES requests are fetched, so no chain of old values stays alive on either side."""
    steps = 40

    def train(lib):
        X, Y, params = _mlp(lib)
        opt = None if optimizer is None else (
            lib.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd-momentum" else
            lib.optim.Adam(params, lr=0.01))

        def step():
            if opt is None:
                _mlp_step(lib, X, Y, params)
                return
            opt.zero_grad()
            W1, b1, W2, b2 = params
            logits = lib.relu(X @ W1 + b1) @ W2 + b2
            (-(lib.log_softmax(logits, 1)[lib.arange(X.shape[0]), Y]).mean()).backward()
            opt.step()
        return params, step

    with serve() as (target, server), gw.connect(target) as s:
        store = server_state(server).service.store
        previous = gw_session._default
        gw_session.set_default_session(s)
        try:
            params, step = train(gw)
            sizes = _store_sizes(store, [step] * steps)
            assert store.releases > 0
            # Bounded: the last steps hold no more than the first ones did (a leak of one step's
            # parameters and gradients, ~17 kB, would add ~0.5 MB over the loop).
            assert max(sizes[-10:]) <= max(sizes[:12]), sizes
            assert len(s.residents) <= 6 * gw_session.MAX_UNREAD_UPDATES, len(s.residents)
            for p in params:
                assert p._node.depth <= gw_session.MAX_UNREAD_UPDATES
            got = [p.detach().numpy() for p in params]
        finally:
            gw_session.set_default_session(previous)
    want_params, want_step = train(torch)
    for _ in range(steps):
        want_step()
    for a, b in zip(got, want_params):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_a_released_hash_stays_held_while_another_tensor_names_it(serve):
    counter = CountingInterceptor()
    data = np.arange(8192, dtype=np.float32)
    h = hashing.tensor_hash(codec.dtype_enum(data.dtype), data.shape, data)
    with serve() as (target, server), gw.connect(target, interceptors=[counter], shared_memory=False) as s:
        store = server_state(server).service.store
        principal = "ns:" + s.namespace
        x, y = s.tensor(data), s.tensor(data.copy())       # equal content: one hash, named twice
        assert (x * 2).sum().item() == pytest.approx(2 * data.sum(dtype=np.float64), rel=1e-6)
        assert (y * 3).sum().item() == pytest.approx(3 * data.sum(dtype=np.float64), rel=1e-6)
        assert x._node.resident == y._node.resident == h
        del x
        gc.collect()
        counter.reset()
        assert (y * 4).sum().item() == pytest.approx(4 * data.sum(dtype=np.float64), rel=1e-6)
        assert counter.calls == {"Evaluate": 1} and h not in counter.requests[0][1].options.release, h
        assert sizes(counter)[0][1] < 2000                   # y still by handle: no resend
        assert store.get(principal, h) is not None
        del y
        gc.collect()
        counter.reset()
        assert s.tensor(np.ones(3, np.float32)).sum().item() == 3.0
        assert h in counter.requests[0][1].options.release    # (with the temporaries, y * 4 among them)
        assert store.get(principal, h) is None
        counter.reset()
        assert s.tensor(np.ones(3, np.float32)).sum().item() == 3.0
        assert h not in counter.requests[0][1].options.release     # released once


def test_closing_a_session_frees_what_it_kept(serve):
    with serve() as (target, server):
        store = server_state(server).service.store
        with gw.connect(target, shared_memory=False) as s:
            x = s.tensor(np.arange(20000, dtype=np.float32))
            y = x * 2
            assert (y + 1).sum().item() == pytest.approx(float((np.arange(20000.0) * 2 + 1).sum()), rel=1e-5)
            assert y._node.resident and store.get("ns:" + s.namespace, y._node.resident) is not None
            assert store.bytes >= 160000                 # x sent, y computed: both kept
        assert store.bytes == 0 and len(store) == 0     # closed: released, while x and y still exist
        assert x is not None and y is not None


def test_release_drops_only_the_callers_own_values_and_checks_handles(serve):
    with _two_callers(serve) as (stub, value, h, by_bytes, by_handle, alice, bob):
        for who in (alice, bob):
            stub.Evaluate(_identity_request(by_bytes), metadata=who)                # both store the same content
        # Released and sent again in one request: held afterwards (release comes first).
        stub.Evaluate(_identity_request(by_bytes, [h]), metadata=alice)
        stub.Evaluate(_identity_request(by_handle), metadata=alice)
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(by_handle, [h]), metadata=alice)        # released before it is read
        assert e.value.code() == grpc.StatusCode.NOT_FOUND and f"resident value {h}" in e.value.details()
        out = stub.Evaluate(_identity_request(by_handle), metadata=bob)             # bob's copy is untouched
        np.testing.assert_array_equal(codec.tensor_from_proto(out.outputs[0]), value)
        stub.Evaluate(_identity_request(by_bytes, ["0" * 64]), metadata=bob)        # not held: not an error
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(by_bytes, [h, "not-a-hash"]), metadata=bob)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "options.release[1]" in e.value.details() and "'not-a-hash'" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(by_bytes, [h]))                         # no identity to release for
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "x-gradwire-namespace" in e.value.details()


def test_sessions_sharing_a_token_keep_separate_values():
    token = (("authorization", "Bearer t"),)
    one, two = token + (("x-gradwire-namespace", "a"),), token + (("x-gradwire-namespace", "b"),)
    assert caller(one) != caller(two) and caller(one).startswith(caller(token))
    assert caller(token) == caller(tuple(reversed(token))) and caller(()) is None
    assert caller((("x-gradwire-namespace", "a"),)) == "ns:a" != caller(one)


def test_eviction_mid_loop_gives_the_same_results(serve):
    """A store far too small for the loop: values are evicted between and within steps; the client
    resends the bytes it holds and the ops of what it never read."""
    config = ServerConfig(value_store_bytes=16 << 10)
    with serve(config) as (target, server), gw.connect(target) as s:
        previous = gw_session._default
        gw_session.set_default_session(s)
        try:
            got = [p.detach().numpy() for p in _train(gw, [lambda: None] * 6)]
        finally:
            gw_session.set_default_session(previous)
    for a, b in zip(got, _torch_params(6)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_new_server_continues_the_loop_from_what_the_client_holds(server_process):
    proc, target = server_process("--processes", "1")
    port = target.rsplit(":", 1)[1]
    procs = [proc]

    def restart():
        procs[-1].send_signal(signal.SIGKILL)
        procs[-1].wait(30)
        for attempt in range(40):       # the killed process's socket may take a moment to close
            try:
                procs.append(server_process("--processes", "1", "--port", port)[0])
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 39:
                    raise
                time.sleep(0.25)

    with gw.connect(target) as s:
        previous = gw_session._default
        gw_session.set_default_session(s)
        try:
            got = [p.detach().numpy() for p in _train(gw, [lambda: None, restart, lambda: None, restart,
                                                           lambda: None, lambda: None])]
        finally:
            gw_session.set_default_session(previous)
    for a, b in zip(got, _torch_params(6)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_hash_from_another_caller_is_not_found_never_its_value(serve):
    with _two_callers(serve) as (stub, value, h, by_bytes, by_handle, alice, bob):
        stub.Evaluate(_identity_request(by_bytes), metadata=alice)                  # alice stores it
        out = stub.Evaluate(_identity_request(by_handle), metadata=alice)           # and names it by hash
        np.testing.assert_array_equal(codec.tensor_from_proto(out.outputs[0]), value)
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(by_handle), metadata=bob)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert f"resident value {h}" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(by_handle))                              # no identity at all
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "x-gradwire-namespace" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(pb.Tensor(dtype=by_bytes.dtype, shape=by_bytes.shape, handle="zz")),
                          metadata=alice)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "handle" in e.value.details()
        wrong_shape = pb.Tensor(dtype=by_bytes.dtype, shape=[2, 2048], handle=h)
        with pytest.raises(grpc.RpcError) as e:
            stub.Evaluate(_identity_request(wrong_shape), metadata=alice)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "[4096]" in e.value.details()


def test_resident_off_sends_bytes_every_time(serve):
    counter = CountingInterceptor()
    with serve() as (target, _), gw.connect(target, interceptors=[counter], resident=False,
                                            shared_memory=False) as s:   # (else the 80 kB go in a region)
        x = s.tensor(np.ones(20000, dtype=np.float32))
        for _ in range(3):
            (x * 2).sum().item()
        assert all(size > 80000 for _, size in sizes(counter))
