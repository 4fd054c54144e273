"""Streaming for size: tensors past the message cap go up with PutValue and come down with GetValue, with
the server's default settings, each side's peak memory growth within 2x the tensor; limits name their flag."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import grpc
import numpy as np
import pytest

import gradwire as gw
from gradwire.core import hashing
from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

MiB = 1 << 20

# The client side, in its own process so that its peak RSS is its own. The tensor exists before the
# baseline (from_numpy copies by contract); then x goes up, the gradient of sum(2x) comes down, is
# checked and dropped, then the value 3x comes down. Values are read with _value(): numpy() copies by
# contract too. Peak resident memory is VmHWM, reset (clear_refs 5) at the baseline, on both sides.
CLIENT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import gradwire as gw

    def status(pid, key):
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    def reset_peak(pid):
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")

    def equal(got, expected):          # in slices: no full-size temporaries in the measurement
        step = 1 << 20
        return got.shape == a.shape and all(np.array_equal(got[k:k + step], expected(a[k:k + step]))
                                            for k in range(0, len(a), step))

    target, server_pid, nbytes, shared = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    with gw.connect(target, timeout=600, shared_memory=shared) as s:
        s.ones(2).sum().item()                      # channel up, client warm
        a = np.arange(nbytes // 4, dtype=np.float32) % 1000
        x = s.from_numpy(a).requires_grad_()
        base = {p: status(p, "VmRSS") for p in ("self", server_pid)}
        for p in base:
            reset_peak(p)
        (x * 2).sum().backward()
        ok_grad = equal(x.grad._value(), lambda part: np.full_like(part, 2))
        x.grad = None
        ok_value = equal((x * 3).detach()._value(), lambda part: 3 * part)
        peak = {p: status(p, "VmHWM") - base[p] for p in base}
    print(json.dumps({"grad": ok_grad, "value": ok_value, "client": peak["self"], "server": peak[server_pid]}))
""")


def _engine_peak(nbytes: int) -> int:
    """Bytes the engine itself allocates for the server's work, beyond its input (NumPy reports its
    allocations to tracemalloc): sum(2x) materializes 2x before summing, then the gradient."""
    import tracemalloc
    from gradwire import engine
    from gradwire.engine import Graph, Node
    c = ServerConfig()       # the server's limits, which admit what the engine's own defaults do not
    limits = engine.Limits(max_tensor_elements=c.max_tensor_elements, max_total_elements=c.max_total_elements,
                           max_intermediate_elements=c.max_intermediate_elements)
    x = np.ones(nbytes // 4, np.float32)
    g = Graph((Node("placeholder", (), {"name": "x"}), Node("constant", (), {"value": np.array(2.0, np.float32)}),
               Node("mul", (0, 1), {}), Node("sum", (2,), {"axes": None})))
    tracemalloc.start()
    try:
        engine.gradient(g, {"x": x}, [3], [0], limits=limits)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _round_trip(server_process, nbytes: int, shared: bool = False) -> dict:
    proc, target = server_process("--processes", "1", "--log-level", "warning")
    out = subprocess.run([sys.executable, "-c", CLIENT, target, str(proc.pid), str(nbytes), str(int(shared))],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(result: dict, nbytes: int, shared: bool) -> None:
    """The client holds the tensor and receives one of its size: growth <= 2x. The server holds what
    the engine computes from the tensor (its own working memory, measured apart), and on top of it: on
    the byte path, the tensor kept in the store plus the chunks in flight (<= 2x); through shared
    memory only the mapping of the client's region holding the tensor (<= 1x): the gradient is computed
    straight into the client's region, and nothing is copied or kept. A few MiB of messages and page
    tables either way."""
    assert result["grad"] and result["value"]
    assert result["client"] <= 2 * nbytes, result
    assert result["server"] - _engine_peak(nbytes) <= (1 if shared else 2) * nbytes + 8 * MiB, result


@pytest.mark.parametrize("shared", [False, True], ids=["bytes", "shared-memory"])
def test_a_64_mib_tensor_and_its_gradient_round_trip_with_default_settings(server_process, shared):
    _check(_round_trip(server_process, 64 * MiB, shared), 64 * MiB, shared)


@pytest.mark.slow
def test_a_300_mb_tensor_and_its_gradient_round_trip_with_default_settings(server_process):
    _check(_round_trip(server_process, 300_000_000), 300_000_000, False)


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True], ids=["bytes", "shared-memory"])
def test_a_1_gib_float32_gradient_round_trips_with_default_settings(server_process, shared):
    """2**28 float32 elements: within the default --max-tensor-elements, --max-total-elements and
    --value-store-bytes, on both paths (about 4 GiB at most on each side)."""
    _check(_round_trip(server_process, 1 << 30, shared), 1 << 30, shared)


@pytest.mark.parametrize("shared", [False, True], ids=["bytes", "shared-memory"])
def test_jvp_jacobian_and_hessian_take_and_give_tensors_past_the_message_cap(make_server, shared):
    """With a 4 MiB message cap: an 8 MiB primal and tangent go up (PutValue, or a region), an 8 MiB output
    tangent and Jacobian and a 9 MB Hessian come down (by handle and GetValue, or a region); against torch."""
    import torch
    target = make_server(ServerConfig(max_message_bytes=4 * MiB, warm_up=False))
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((2, 1 << 21)).astype(np.float32)      # 8 MiB each
    h = rng.standard_normal(1500).astype(np.float32)                  # its Hessian: 9 MB
    with gw.connect(target, shared_memory=shared) as s:
        out, tangent = s.jvp(lambda x: x.sin() * x, s.tensor(a), s.tensor(v))
        jac = s.jacobian(lambda x: (x * x * x).sum(), s.tensor(a))
        hess = s.hessian(lambda x: (x * x * x).sum(), s.tensor(h))
        assert (s.shared_memory() is not None) == shared
        got = [out._value(), tangent._value(), jac._value(), hess._value()]
    t_out, t_tangent = torch.func.jvp(lambda x: x.sin() * x, (torch.from_numpy(a),), (torch.from_numpy(v),))
    t_jac = torch.autograd.functional.jacobian(lambda x: (x * x * x).sum(), torch.from_numpy(a))
    t_hess = torch.autograd.functional.hessian(lambda x: (x * x * x).sum(), torch.from_numpy(h))
    for g, t in zip(got, (t_out, t_tangent, t_jac, t_hess)):
        assert g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-5, atol=1e-5)


def _stub_and_metadata(target):
    channel = grpc.insecure_channel(target)
    return channel, pb_grpc.AutodiffStub(channel), (("x-gradwire-namespace", "streams-test"),)


def test_put_and_get_value_speak_the_spec(server_target):
    a = np.arange(3 * MiB // 8, dtype=np.float64).reshape(3, -1)
    raw = a.tobytes()
    h = hashing.tensor_hash(pb.FLOAT64, a.shape, a)
    channel, stub, md = _stub_and_metadata(server_target)
    with channel:
        chunks = [pb.ValueChunk(dtype=pb.FLOAT64, shape=a.shape, data=raw[:1000])] + [
            pb.ValueChunk(data=raw[k:k + 777_777]) for k in range(1000, len(raw), 777_777)]
        reply = stub.PutValue(iter(chunks), metadata=md, timeout=30)
        assert reply.handle == h and reply.nbytes == len(raw)
        back = list(stub.GetValue(pb.GetValueRequest(handle=h), metadata=md, timeout=30))
        assert back[0].dtype == pb.FLOAT64 and list(back[0].shape) == [3, a.shape[1]] and back[0].handle == h
        assert b"".join(c.data for c in back) == raw
        # The handle names the value in a request, as any resident value.
        g = pb.Graph(nodes=[pb.Node(op="placeholder", attrs={"name": pb.AttrValue(s="x")}),
                            pb.Node(op="sum", inputs=[0], attrs={"axes": pb.AttrValue(none=True)})])
        r = stub.Evaluate(pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=g)]), outputs=[1],
                                             inputs={"x": pb.Tensor(dtype=pb.FLOAT64, shape=a.shape, handle=h)}),
                          metadata=md, timeout=30)
        assert np.frombuffer(r.outputs[0].data, np.float64)[0] == a.sum()
        # Another caller does not see it.
        with pytest.raises(grpc.RpcError) as e:
            list(stub.GetValue(pb.GetValueRequest(handle=h), metadata=(("x-gradwire-namespace", "other"),)))
        assert e.value.code() is grpc.StatusCode.NOT_FOUND and h in e.value.details()


@pytest.mark.parametrize("chunks, code, words", [
    ([], grpc.StatusCode.INVALID_ARGUMENT, "before its first chunk"),
    ([pb.ValueChunk(shape=[4096], data=b"\0" * 4096)], grpc.StatusCode.INVALID_ARGUMENT, "needs a dtype"),
    ([pb.ValueChunk(dtype=pb.FLOAT32, shape=[2048], data=b"\0" * 4096)], grpc.StatusCode.INVALID_ARGUMENT,
     "needs 8192"),
    ([pb.ValueChunk(dtype=pb.FLOAT32, shape=[1024], data=b"\0" * 4097)], grpc.StatusCode.INVALID_ARGUMENT,
     "past the 4096 bytes"),
    ([pb.ValueChunk(dtype=pb.FLOAT32, shape=[8], data=b"\0" * 32)], grpc.StatusCode.INVALID_ARGUMENT,
     "send them as bytes"),
    ([pb.ValueChunk(dtype=pb.FLOAT32, shape=[1024], handle="0" * 64, data=b"\0" * 4096)],
     grpc.StatusCode.INVALID_ARGUMENT, "not to the handle sent"),
    ([pb.ValueChunk(dtype=pb.FLOAT32, shape=[1 << 20, 1 << 10])], grpc.StatusCode.RESOURCE_EXHAUSTED,
     "--max-tensor-elements"),
])
def test_put_value_refuses_with_a_precise_status(server_target, chunks, code, words):
    channel, stub, md = _stub_and_metadata(server_target)
    with channel, pytest.raises(grpc.RpcError) as e:
        stub.PutValue(iter(chunks), metadata=md, timeout=30)
    assert e.value.code() is code and words in e.value.details(), e.value.details()


def test_put_value_refuses_a_value_larger_than_the_store_naming_the_flag(make_server):
    # (The default store holds 4 GiB, more than the largest tensor --max-tensor-elements admits.)
    channel, stub, md = _stub_and_metadata(make_server(ServerConfig(value_store_bytes=64 * MiB, warm_up=False)))
    with channel, pytest.raises(grpc.RpcError) as e:
        stub.PutValue(iter([pb.ValueChunk(dtype=pb.FLOAT64, shape=[1 << 23, 2])]), metadata=md, timeout=30)
    assert e.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "--value-store-bytes" in e.value.details()


def test_get_value_refuses_a_malformed_or_unknown_handle(server_target):
    channel, stub, md = _stub_and_metadata(server_target)
    with channel:
        for handle, code in (("xyz", grpc.StatusCode.INVALID_ARGUMENT), ("a" * 64, grpc.StatusCode.NOT_FOUND)):
            with pytest.raises(grpc.RpcError) as e:
                list(stub.GetValue(pb.GetValueRequest(handle=handle), metadata=md, timeout=30))
            assert e.value.code() is code


def test_a_result_larger_than_half_the_message_cap_comes_back_by_handle(make_server):
    # A 1 MiB message cap: an 8 MiB input goes up in chunks, its gradient comes down in chunks.
    target = make_server(ServerConfig(max_message_bytes=1 * MiB, warm_up=False))
    a = np.linspace(-1, 1, 2 * MiB, dtype=np.float32)
    with gw.connect(target) as s:
        x = s.tensor(a, requires_grad=True)
        (x.sin() * 2).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(a), rtol=1e-6)
        np.testing.assert_allclose((x * 0.5).detach().numpy(), a * 0.5)
    with gw.connect(target, resident=False) as s:
        x = s.tensor(a[:192 << 10])       # 768 KiB: bytes up; a result past half the cap: handle down
        np.testing.assert_allclose((x + 1).numpy(), a[:192 << 10] + 1)
