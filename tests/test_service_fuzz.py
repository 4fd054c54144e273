"""Random and mutated request bytes: never INTERNAL/UNKNOWN, and the server keeps answering."""
from __future__ import annotations

import random

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

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
                                       mode=pb.JACOBIAN_MODE_FORWARD),
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


# Shapes whose arithmetic breaks naive code: zero elements but dims past int64 when multiplied,
# int64 extremes, more dims than NumPy allows, and sizes the data cannot match.
EXTREME_SHAPES = [
    [4611686018427387904, 1099511627776, 0, 4611686018427387904],
    [2**63 - 1, 0],
    [0, 2**62, 2**62],
    [2**40, 0],
    [0] * 65,
    [1] * 64 + [0],
    [2**31, 2**31],
    [-1],
    [-(2**63)],
    [3, -4],
]


def tensor_fields(message, path=""):
    """(path, Tensor) for every Tensor anywhere in `message`, attributes' tensors included."""
    for field, value in message.ListFields():
        name = f"{path}{field.name}"
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [(f"{name}[{k}]", v) for k, v in value.items()]
        elif field.is_repeated:
            items = [(f"{name}[{k}]", v) for k, v in enumerate(value)]
        else:
            items = [(name, value)]
        for where, sub in items:
            if not hasattr(sub, "DESCRIPTOR"):
                continue
            if sub.DESCRIPTOR.name == "Tensor":
                yield where, sub
            else:
                yield from tensor_fields(sub, where + ".")


def extreme_cases(wire):
    """(method, field path, shape, serialized request) with one tensor's shape made extreme."""
    requests = seeds(wire)
    # Known values and seeds too (the seed requests above carry neither).
    grad = requests["Gradient"]
    g = pb.GradientRequest()
    g.CopyFrom(grad)
    g.known.add(node=2, value=wire.tensor(np.ones((3, 2), np.float32)))
    requests["Gradient+known"] = g
    jac = pb.JacobianRequest()
    jac.CopyFrom(requests["Jacobian"])
    jac.known.add(node=2, value=wire.tensor(np.ones((3, 2), np.float32)))
    requests["Jacobian+known"] = jac
    out = []
    for method, request in requests.items():
        for where, _ in list(tensor_fields(request)):
            for shape in EXTREME_SHAPES:
                mutated = type(request)()
                mutated.CopyFrom(request)
                target = dict(tensor_fields(mutated))[where]
                target.shape[:] = shape
                target.data = b""
                out.append((method.split("+")[0], where, shape, mutated.SerializeToString()))
    return out


def named(where: str) -> str:
    """How the server names a field: node ids are global, so without the part."""
    return where.replace("graph.parts[0].graph.", "graph.").removesuffix(".tensor")


def test_extreme_dims_in_every_tensor_field_are_refused_precisely(fuzzed, wire):
    cases = extreme_cases(wire)
    fields = {where for _, where, _, _ in cases}
    assert {"inputs[x]", "known[0].value", "tangents[0]"} <= fields
    assert any(".attrs[value].tensor" in f for f in fields)     # a constant's tensor
    bad = []
    for method, where, shape, data in cases:
        try:
            fuzzed.unary_unary(f"/gradwire.v1.Autodiff/{method}")(data, timeout=30)
            bad.append((method, where, shape, "OK"))
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.INVALID_ARGUMENT,
                                grpc.StatusCode.RESOURCE_EXHAUSTED):
                bad.append((method, where, shape, e.code(), e.details()))
            elif not e.details().startswith(named(where) + ":"):
                bad.append((method, where, shape, "message does not name the field", e.details()))
    assert not bad, f"{len(bad)} of {len(cases)}: {bad[:5]}"


def test_a_zero_size_shape_past_int64_is_invalid_argument_naming_the_field(fuzzed, wire):
    (_, where, _, data), = [c for c in extreme_cases(wire) if c[0] == "Jacobian"
                            and c[1] == "known[0].value" and c[2] == EXTREME_SHAPES[0]]
    with pytest.raises(grpc.RpcError) as err:
        fuzzed.unary_unary("/gradwire.v1.Autodiff/Jacobian")(data, timeout=30)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("known[0].value:"), err.value.details()


# Shape-valued attributes: extreme sizes reach the engine's shape inference.
@pytest.mark.parametrize("op, attrs", [
    ("reshape", {"shape": (2**62, 2**62, 0)}),
    ("reshape", {"shape": (0, -1)}),
    ("broadcast_to", {"shape": (2**62, 0, 2**62)}),
    ("broadcast_to", {"shape": (2**40, 2**40, 1)}),
    ("sum_to", {"shape": (2**63 - 1, 0)}),
    ("slice", {"starts": (0,), "stops": (2**63 - 1,), "steps": (2**62,)}),
    ("slice", {"starts": (-(2**63),), "stops": (2**63 - 1,), "steps": (-(2**63),)}),
])
def test_extreme_shape_attributes_are_refused_precisely(fuzzed, wire, op, attrs):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add(op, x, **attrs)
    s = g.add("sum", y, axes=None)
    request = pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=np.zeros((0,), np.float32)),
                                 outputs=[s], wrt=[x])
    try:
        pb_grpc.AutodiffStub(fuzzed).Gradient(request, timeout=30)
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.RESOURCE_EXHAUSTED), (e.code(), e.details())
        assert "graph.nodes[1]" in e.details() or "node 1" in e.details(), e.details()
