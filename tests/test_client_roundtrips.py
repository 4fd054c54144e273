"""The round-trip model: lazy recording, one request per realization, each node sent once,
repeated structures and server-known parts by hash, NOT_FOUND answered by resending."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gradwire as gw
from client_fixtures import CountingInterceptor, counter, full_nodes, hashed_parts, session  # noqa: F401

pytestmark = pytest.mark.usefixtures("session")


def test_recording_sends_nothing(counter):
    x = gw.arange(4.0, requires_grad=True)
    counter.reset()
    y = ((x * 2).sin() + 1).sum()
    z = y * y
    assert sum(counter.calls.values()) == 0
    assert z.requires_grad and z.grad_fn.name() == "MulBackward0"
    assert sum(counter.calls.values()) == 0
    assert z.shape == () and z.dtype == gw.float32 and z.ndim == 0 and z.numel() == 1
    assert (x * 2).reshape(2, 2).size(0) == 2 and len(x[1:]) == 3      # shapes are known at the call
    assert sum(counter.calls.values()) == 0


def test_indexing_with_a_computed_index_tensor_sends_nothing(counter):
    x = gw.arange(12.0, requires_grad=True).reshape(3, 4)
    idx = (x.argmax(1) + gw.tensor([2, 0, 1])) % 3     # [2, 0, 1]: an int64 index the client does not hold
    counter.reset()
    y = x[idx]
    z = x[idx, 1:]
    assert sum(counter.calls.values()) == 0 and y.shape == (3, 4) and z.shape == (3, 3)
    assert y[0].tolist() == [8.0, 9.0, 10.0, 11.0]
    assert sum(counter.calls.values()) == 1


@pytest.mark.parametrize("a0", [0.37, -0.002, 5.0])
def test_while_loop_costs_one_request_per_iteration(counter, a0):
    a = gw.tensor(a0, requires_grad=True)
    counter.reset()
    tests = 0
    b = a * 2
    while True:
        tests += 1
        if not b.norm() < 1000:
            break
        b = b * 2
    c = b if b.sum() > 0 else 100 * b
    tests += 1
    assert counter.calls == {"Evaluate": tests}
    # Each iteration's request has the same structure (placeholder b, *2, norm, < 1000), so
    # from the second one on it travels by hash: the bytes per iteration do not grow.
    requests = [r for m, r in counter.requests if m == "Evaluate"]
    sizes = [full_nodes(r) for r in requests[:-1]]
    assert max(sizes) <= 6 and all(n == 0 for n in sizes[2:]), sizes
    assert all(len(r.inputs) <= 2 for r in requests)
    counter.reset()
    c.backward()
    assert counter.calls == {"Gradient": 1}
    assert bool(a.grad == c / a)


def test_each_node_is_sent_once_across_a_loop(counter):
    x = gw.tensor([0.5, -0.25], requires_grad=True)
    counter.reset()
    h = x
    for step in range(30):
        h = gw.tanh(h * (1.0 + step / 100))      # a different constant: no reuse by hash
        h.sum().item()                            # realize every step
    sent = sum(full_nodes(r) for m, r in counter.requests)
    # per step: placeholder h, constant, mul, tanh, sum (+ the 1-node prefix of x once)
    assert sent <= 30 * 5 + 1, sent
    assert counter.calls == {"Evaluate": 30}


def test_repeated_training_steps_go_by_hash(counter):
    rng = np.random.default_rng(0)
    X = gw.tensor(rng.standard_normal((8, 3)))
    y = gw.tensor(rng.standard_normal(8))
    w = gw.zeros(3, dtype=gw.float64, requires_grad=True)   # matmul takes one dtype, as in PyTorch
    counter.reset()
    losses = []
    for _ in range(6):
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        with gw.no_grad():
            w = (w - 0.1 * w.grad).detach().requires_grad_()
    grads = [r for m, r in counter.requests if m == "Gradient"]
    assert len(grads) == 6 and counter.calls["Evaluate"] <= 6
    assert full_nodes(grads[0]) > 0 and all(full_nodes(r) == 0 and hashed_parts(r) >= 1
                                            for r in grads[1:])
    assert losses == sorted(losses, reverse=True)


def test_minibatches_sliced_from_held_data_go_by_hash(counter):
    """The course book's loop: each step slices a different minibatch (other slice bounds) from data the client
    holds. The small slices are taken on the client, so every step's graph has one structure and, from the
    third step on (the second is the first to carry the previous step's updates), travels by hash; the
    parameters end as PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((60, 2)).astype(np.float32)
    labels = (feats @ np.array([[2.0], [-3.4]], np.float32) + 4.2).astype(np.float32)
    w0 = rng.normal(0, 0.01, (2, 1)).astype(np.float32)
    results = []
    for lib in (gw, torch):
        X, y = lib.tensor(feats), lib.tensor(labels)
        w, b = lib.tensor(w0, requires_grad=True), lib.zeros(1, requires_grad=True)
        counter.reset()
        for k in range(6):
            Xb, yb = X[k * 10:k * 10 + 10], y[k * 10:k * 10 + 10]
            out = Xb @ w + b
            l = ((out - yb.reshape(out.shape)) ** 2 / 2).sum()
            l.backward()
            with lib.no_grad():
                for p in (w, b):
                    p -= 0.03 * p.grad / 10
                    p.grad.zero_()
        if lib is gw:
            grads = [r for m, r in counter.requests if m == "Gradient"]
            assert counter.calls == {"Gradient": 6}
            assert all(full_nodes(r) == 0 and hashed_parts(r) == 1 for r in grads[2:]), [
                full_nodes(r) for r in grads]
            assert Xb.tolist() == feats[50:60].tolist() and sum(counter.calls.values()) == 6   # held: no request
            assert Xb._node.op == "slice" and Xb._version == X._version        # still a view of X
        results.append([w.detach().numpy(), b.detach().numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_views_of_held_values_are_taken_on_the_client_only_when_small_and_without_history():
    big = gw.tensor(np.arange(4096, dtype=np.float32).reshape(64, 64))
    small = big[2:4, 1:60:3]
    assert small._node.value is not None and small.tolist() == np.arange(4096.0).reshape(64, 64)[2:4, 1:60:3].tolist()
    assert big[:32]._node.value is None                     # 4 KiB or more: recorded, computed by the server
    w = gw.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    assert w[1:]._node.value is None and w.T._node.value is None   # history: gradients flow through the op
    with gw.no_grad():
        assert w.T._node.value is not None and w.reshape(6)._node.value is not None
    x = gw.tensor(np.arange(6.0).reshape(2, 3))
    v = x.T
    x[0, 0] = 7.0                                          # a write through the base reaches the view
    assert v.tolist() == [[7.0, 3.0], [1.0, 4.0], [2.0, 5.0]] and v._version == 1


def test_create_graph_reuses_the_first_request_as_a_prefix(counter):
    x = gw.tensor([0.5, 1.5], dtype=gw.float64, requires_grad=True)
    y = (x ** 3).sum()
    counter.reset()
    g, = gw.grad(y, x, create_graph=True)
    g.sum().backward()
    first, second = [r for m, r in counter.requests if m == "Gradient"]
    assert hashed_parts(second) >= 1 and second.graph.parts[0].WhichOneof("part") == "hash"
    assert full_nodes(second) < full_nodes(first) + len(second.graph.parts[-1].graph.nodes) + 1
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, 1.5]))


def test_unknown_hash_is_answered_by_resending(make_server):
    """Two replicas behind one client cache: the one that never saw a part says NOT_FOUND;
    the client resends the part in full and then both know it."""
    seen_a, seen_b = CountingInterceptor(), CountingInterceptor()
    with gw.connect(make_server(), interceptors=[seen_a]) as a, \
            gw.connect(make_server(), interceptors=[seen_b]) as b:
        b._parts = a._parts                     # as if one client spread calls over replicas

        def step(s):
            x = s.tensor([1.0, 2.0, 3.0], requires_grad=True)
            y = (s.sin(x) * x).sum()
            y.backward()
            return x.grad.numpy()

        expected = step(a)
        step(a)
        assert seen_a.statuses[("Gradient", "OK")] == 2
        assert hashed_parts(seen_a.requests[-1][1]) >= 1
        np.testing.assert_allclose(step(b), expected)
        assert seen_b.statuses[("Gradient", "NOT_FOUND")] == 1
        assert seen_b.statuses[("Gradient", "OK")] == 1
        assert full_nodes(seen_b.requests[-1][1]) > 0
        np.testing.assert_allclose(step(b), expected)
        assert seen_b.statuses[("Gradient", "NOT_FOUND")] == 1
        assert hashed_parts(seen_b.requests[-1][1]) >= 1 and full_nodes(seen_b.requests[-1][1]) == 0


def test_no_global_tape_history_is_freed_with_its_tensors():
    x = gw.arange(3.0, requires_grad=True)
    y = x
    for _ in range(50):
        y = y * 1.01
    probe = weakref.ref(y._node.inputs[0])
    y.sum().item()
    del y
    gc.collect()
    assert probe() is None


def test_long_chains_do_not_recurse():
    x = gw.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(1500):          # deeper than Python's recursion limit
        y = y + 0.001
    y.backward()
    assert y.item() == pytest.approx(2.5, rel=1e-4) and x.grad.item() == 1.0


def _linear_regression(lib, steps, batch=10):
    """The course book's loop: minibatch SGD written by hand, updates under no_grad, grads zeroed."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((40, 2)).astype(np.float32)
    labels = (features @ np.array([[2.0], [-3.4]], np.float32) + 4.2).astype(np.float32)
    X, y = lib.tensor(features), lib.tensor(labels)
    w = lib.tensor(rng.normal(0, 0.01, (2, 1)).astype(np.float32), requires_grad=True)
    b = lib.zeros(1, requires_grad=True)
    for step in range(steps):
        i = (step * batch) % 40
        Xb, yb = X[i:i + batch], y[i:i + batch]
        loss = ((Xb @ w + b - yb.reshape((Xb @ w + b).shape)) ** 2 / 2).sum()
        loss.backward()
        with lib.no_grad():
            for p in (w, b):
                p -= 0.03 * p.grad / batch
                p.grad.zero_()
    return w, b


def _mlp(lib, steps):
    rng = np.random.default_rng(1)
    X = lib.tensor(rng.standard_normal((16, 8)).astype(np.float32))
    labels = lib.tensor(rng.integers(0, 3, 16))
    params = [lib.tensor(rng.normal(0, 0.3, s).astype(np.float32), requires_grad=True)
              for s in ((8, 16), (16,), (16, 3), (3,))]
    for _ in range(steps):
        W1, b1, W2, b2 = params
        logits = lib.relu(X @ W1 + b1) @ W2 + b2
        loss = -(lib.log_softmax(logits, 1)[lib.arange(16), labels]).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p.data.sub_(0.1 * p.grad)
                p.grad.data.zero_()
    return params


@pytest.mark.parametrize("loop", [_linear_regression, _mlp])
def test_training_loops_make_one_request_per_step(counter, loop):
    """Updates under no_grad (p -= lr * p.grad, p.data.sub_, grad.zero_) travel with the next step's
    request instead of costing one each; the parameters end where PyTorch's do."""
    import torch
    loop(gw, 1)
    counter.reset()
    ours = loop(gw, 6)
    assert counter.calls == {"Gradient": 6}
    theirs = loop(torch, 6)
    for p, q in zip(ours, theirs):
        assert p.is_leaf and p.requires_grad and p.grad is not None
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert counter.calls == {"Gradient": 6, "Evaluate": len(ours)}   # reading each parameter's last update
