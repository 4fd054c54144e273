"""Random and mutated request bytes: never INTERNAL/UNKNOWN, and the server keeps answering."""
from __future__ import annotations

import random

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb

# What a caller's mistake may earn; INTERNAL and UNKNOWN would mean a bug on our side.
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED,
           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.DEADLINE_EXCEEDED}


def seeds(wire) -> dict[str, bytes]:
    """One valid request per method, serialized: the material the mutations start from."""
    g = wire.GraphBuilder()
    x, w = g.placeholder("x"), g.placeholder("w")
    h = g.add("matmul", x, w)
    a = g.add("softmax", h, axis=-1)
    s = g.add("sum", g.add("mul", a, g.constant(np.float32(2.0))), axes=None)
    t = g.add("reshape", g.add("slice", a, starts=(0,), stops=(2,), steps=(1,)), shape=(-1,))
    inputs = wire.feeds(x=np.ones((3, 4), np.float32), w=np.full((4, 2), 0.5, np.float32))
    ref = g.ref()
    return {
        "Evaluate": pb.EvaluateRequest(graph=ref, inputs=inputs, outputs=[s, t],
                                       options=pb.Options(detect_anomaly=True)),
        "Gradient": pb.GradientRequest(graph=ref, inputs=inputs, outputs=[s], wrt=[x, w],
                                       extra=[h], create_graph=True),
        "Jvp": pb.JvpRequest(graph=ref, inputs=inputs, outputs=[t], primals=[x],
                             tangents=[wire.tensor(np.ones((3, 4), np.float32))]),
        "Jacobian": pb.JacobianRequest(graph=ref, inputs=inputs, output=t, wrt=[w],
                                       mode=pb.FORWARD),
        "Hessian": pb.HessianRequest(graph=ref, inputs=inputs, output=s, wrt=[w]),
        "CheckGradients": pb.GradCheckRequest(graph=ref, inputs=inputs, output=s, wrt=[w]),
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        i = rng.randrange(len(b) + 1)
        if kind == 0 and b:        # flip bits of one byte
            b[i % len(b)] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:      # overwrite a byte with an interesting value
            b[i % len(b)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2:            # truncate
            del b[i:]
        elif kind == 3:            # duplicate a span (repeats fields, shifts lengths)
            j = rng.randrange(i, len(b) + 1)
            b[i:i] = b[i:j]
        else:                      # insert random bytes
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


@pytest.fixture(scope="module")
def fuzzed(serve):
    config = ServerConfig(max_nodes=200, max_tensor_elements=10_000,
                          max_intermediate_elements=100_000, max_total_elements=1_000_000,
                          jacobian_memory_bytes=1 << 20, max_message_bytes=1 << 20,
                          warm_up=False)
    with serve(config) as (target, _), grpc.insecure_channel(target) as ch:
        yield ch


@pytest.mark.parametrize("method", ["Evaluate", "Gradient", "Jvp", "Jacobian", "Hessian",
                                    "CheckGradients"])
def test_mutated_requests_never_break_the_server(fuzzed, wire, method):
    seed = seeds(wire)[method].SerializeToString()
    raw = fuzzed.unary_unary(f"/gradwire.v1.Autodiff/{method}")   # bytes in, bytes out
    assert raw(seed, timeout=30)   # the unmutated seed is a valid request
    rng = random.Random(f"gradwire-{method}")
    cases = [mutate(seed, rng) for _ in range(120)]
    cases += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))) for _ in range(30)]
    bad = []
    for data in cases:
        try:
            raw(data, timeout=30)
        except grpc.RpcError as e:
            if e.code() not in ALLOWED:
                bad.append((e.code(), e.details(), data.hex()))
    assert not bad, f"{len(bad)} of {len(cases)} mutated requests got {bad[0][0]}: " \
                    f"{bad[0][1]} (request {bad[0][2]})"

    health = health_pb2_grpc.HealthStub(fuzzed).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert raw(seed, timeout=30) == raw(seed, timeout=30)
