"""Per-call cost over the wire: gradwire requests against a bare gRPC echo, measured in one run.

    python bench/wire.py [--calls 2000]

Starts two servers as subprocesses on loopback — a bare grpcio echo (a generic handler returning its
request bytes, no protobuf) and `python -m gradwire.service` — then times sequential calls from one
sync client: the echo floor, the seed example's Gradient sent in full and by part hash, an Evaluate of a
4 MiB tensor, and the same seed example through the PyTorch-style client (record, one Gradient, read
.grad). Prints p50/p99 per call and the ratio to the echo floor. The machine is shared and noisy: read
the ratios within one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import grpc
import numpy as np

import gradwire as gw
from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc
from servers import ECHO_SERVER, start

def times(fn, calls: int) -> list[float]:
    for _ in range(min(50, calls)):
        fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def seed_request(part) -> pb.GradientRequest:
    return pb.GradientRequest(graph=pb.GraphRef(parts=[part]), outputs=[3], wrt=[0],
                              inputs={"x": codec.tensor_to_proto(np.arange(4, dtype=np.float32))})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    env_py = sys.executable
    echo, echo_target = start([env_py, "-c", ECHO_SERVER])
    server, target = start([env_py, "-m", "gradwire.service", "--port", "0"])
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    try:
        echo_channel = grpc.insecure_channel(echo_target, options=options)
        echo_call = echo_channel.unary_unary("/echo.Echo/Echo")
        small, big = b"x" * 32, np.ones(1 << 20, np.float32)
        stub = pb_grpc.AutodiffStub(grpc.insecure_channel(target, options=options))

        graph = pb.Graph()
        for op, inputs, attrs in (("placeholder", [], {"name": "x"}), ("dot", [0, 0], {}),
                                  ("constant", [], {"value": np.array(2.0, np.float32)}), ("mul", [2, 1], {})):
            node = graph.nodes.add(op=op, inputs=inputs)
            for k, v in attrs.items():
                codec.attr_to_proto(v, node.attrs[k])
        full = seed_request(pb.GraphPart(graph=graph))
        part_hash = stub.Gradient(full).info.part_hashes[0]
        by_hash = seed_request(pb.GraphPart(hash=part_hash))
        big_graph = pb.Graph()
        big_graph.nodes.add(op="placeholder").attrs["name"].s = "x"
        big_graph.nodes.add(op="neg", inputs=[0])
        evaluate_big = pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=big_graph)]), outputs=[1],
                                          inputs={"x": codec.tensor_to_proto(big)})
        big_bytes = codec.tensor_to_proto(big).SerializeToString()
        session = gw.connect(target)

        def client_seed():
            x = session.arange(4.0, requires_grad=True)
            (2 * session.dot(x, x)).backward()
            return x.grad

        rows = [
            ("bare gRPC echo, 32 B", lambda: echo_call(small)),
            ("Gradient, seed example, full graph", lambda: stub.Gradient(full)),
            ("Gradient, seed example, by hash", lambda: stub.Gradient(by_hash)),
            ("client: y = 2·dot(x,x); y.backward()", client_seed),
            ("bare gRPC echo, 4 MiB", lambda: echo_call(big_bytes)),
            ("Evaluate neg(x), x of 4 MiB", lambda: stub.Evaluate(evaluate_big)),
        ]
        print(f"# gradwire wire benchmark — {os.cpu_count()} cores; {args.calls} sequential calls each "
              f"(large payloads: {args.calls // 10}); sync grpcio client, servers in separate processes")
        print(f"{'call':42s} {'p50':>10s} {'p99':>10s} {'vs echo':>8s}")
        floor = None
        for name, fn in rows:
            calls = args.calls if "MiB" not in name else max(args.calls // 10, 20)
            t = sorted(times(fn, calls))
            p50, p99 = statistics.median(t), t[int(0.99 * (len(t) - 1))]
            if "echo" in name:
                floor = p50
            print(f"{name:42s} {p50 * 1e6:8.0f} µs {p99 * 1e6:8.0f} µs {p50 / floor:7.2f}x")
        session.close()
    finally:
        for proc in (echo, server):
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
