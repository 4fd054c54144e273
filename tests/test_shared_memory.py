"""Shared memory on the same host: the nonce handshake, tensors in 0600 regions both ways, precise refusals,
the fallback to bytes, and no region left behind when either side is killed."""
from __future__ import annotations

import mmap
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import grpc
import numpy as np
import pytest

import gradwire as gw
from gradwire.core import shm
from gradwire.service import shared
from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

pytestmark = pytest.mark.skipif(not shm.available(), reason="no writable /dev/shm")
MD = (("x-gradwire-namespace", "shm-test"),)


def _regions(pid: int) -> list[str]:
    """This user's gradwire regions that name `pid` as creator or peer."""
    out = []
    for name in os.listdir(shm.ROOT):
        m = shm.NAME.match(name)
        if m and pid in (int(m.group(1)), int(m.group(2))):
            out.append(name)
    return out


def _negotiate(stub) -> pb.SharedMemoryResponse:
    nonce = os.urandom(32)
    region = shm.write(0, np.frombuffer(nonce, np.uint8))
    try:
        reply = stub.OpenSharedMemory(pb.SharedMemoryRequest(region=region, client_pid=os.getpid()),
                                      metadata=MD, timeout=10)
    finally:
        shm.unlink(region)
    assert reply.nonce == nonce and reply.min_bytes == shared.MIN_BYTES
    return reply


def _sum_graph() -> pb.GraphRef:
    g = pb.Graph(nodes=[pb.Node(op="placeholder", attrs={"name": pb.AttrValue(s="x")}),
                        pb.Node(op="mul", inputs=[0, 0])])
    return pb.GraphRef(parts=[pb.GraphPart(graph=g)])


def test_a_tensor_goes_up_and_comes_down_in_regions_that_are_gone_after(server_target):
    a = np.arange(1 << 19, dtype=np.float32)             # 2 MiB
    with grpc.insecure_channel(server_target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        session = _negotiate(stub)
        name = shm.write(session.server_pid, a)
        assert oct(os.stat(os.path.join(shm.ROOT, name)).st_mode & 0o777) == "0o600"
        request = pb.EvaluateRequest(graph=_sum_graph(), outputs=[1], options=pb.Options(shm_session=session.session))
        request.inputs["x"].CopyFrom(pb.Tensor(dtype=pb.FLOAT32, shape=a.shape,
                                               shm=pb.SharedRegion(name=name, nbytes=a.nbytes)))
        reply = stub.Evaluate(request, metadata=MD, timeout=30)
        assert not os.path.exists(os.path.join(shm.ROOT, name))          # the server unlinked it on mapping
        out = reply.outputs[0]
        assert out.HasField("shm") and not out.data and out.shm.nbytes == a.nbytes
        assert re.match(rf"gradwire-{session.server_pid}-{os.getpid()}-", out.shm.name)
        value = shm.read(out.shm.name, np.float32, tuple(out.shape), out.shm.nbytes)
        assert np.array_equal(value, a * a) and not value.flags.writeable
        assert not os.path.exists(os.path.join(shm.ROOT, out.shm.name))
        # Without the session, the same result travels as bytes.
        request.options.shm_session = ""
        request.inputs["x"].CopyFrom(pb.Tensor(dtype=pb.FLOAT32, shape=a.shape, data=a.tobytes()))
        assert stub.Evaluate(request, metadata=MD, timeout=30).outputs[0].data == (a * a).tobytes()


def test_the_client_uses_shared_memory_with_a_local_server_and_reads_in_place(server_target):
    a = np.linspace(-1, 1, 3 << 20, dtype=np.float32)    # 12 MiB
    before = set(_regions(os.getpid()))                  # (sessions other tests left open keep theirs)
    for resident in (True, False):
        with gw.connect(server_target, resident=resident) as s:
            x = s.tensor(a, requires_grad=True)
            (x.sin() * x).sum().backward()
            assert s.shared_memory() is not None
            np.testing.assert_allclose(x.grad._value(), np.sin(a) + a * np.cos(a), rtol=1e-5, atol=1e-6)
            base = x.grad._value()
            while isinstance(base, np.ndarray):
                base = base.base
            base = base.obj if isinstance(base, memoryview) else base
            assert isinstance(base, mmap.mmap)                  # read in place: no copy out of the region
    assert set(_regions(os.getpid())) <= before


def test_reusable_regions_serve_request_after_request_and_go_with_the_session(server_target):
    a = np.linspace(-1, 1, 1 << 20, dtype=np.float32)   # 4 MiB
    seen = []
    before = set(_regions(os.getpid()))
    with gw.connect(server_target, resident=False) as s:
        for k in range(1, 5):
            x = s.tensor(a * k, requires_grad=True)
            (x * x).sum().backward()
            np.testing.assert_array_equal(x.grad._value(), 2 * (a * k))   # a reused region holds this call's data
            assert s._pool.region_of(x._value()) is not None and s._pool.region_of(x.grad._value()) is not None
            names = set(_regions(os.getpid())) - before
            assert all(os.stat(os.path.join(shm.ROOT, n)).st_mode & 0o777 == 0o600 for n in names)
            seen.append(names)
            del x
        assert seen[1] == seen[2] == seen[3] and len(seen[3]) == 2    # the leaf's and the gradient's, reused
    assert set(_regions(os.getpid())) <= before


def test_a_result_kept_resident_from_a_reusable_region_is_a_copy(server_target):
    """The client writes its regions again after the call: what the server keeps must not change with them."""
    a = np.arange(1 << 19, dtype=np.float32)             # 2 MiB
    with grpc.insecure_channel(server_target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        session = _negotiate(stub)
        name, m = shm.create(session.server_pid, a.nbytes)
        try:
            np.frombuffer(m, np.float32)[:] = a
            g = pb.Graph(nodes=[pb.Node(op="placeholder", attrs={"name": pb.AttrValue(s="x")})])
            request = pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=g)]), outputs=[0],
                                         options=pb.Options(shm_session=session.session, resident=True))
            request.inputs["x"].CopyFrom(pb.Tensor(dtype=pb.FLOAT32, shape=a.shape,
                                                   shm=pb.SharedRegion(name=name, nbytes=a.nbytes, keep=True)))
            out = stub.Evaluate(request, metadata=MD, timeout=30).outputs[0]
            assert out.handle and not out.data and not out.HasField("shm")      # kept, answered by handle
            assert os.path.exists(os.path.join(shm.ROOT, name))                  # a reusable region stays
            np.frombuffer(m, np.float32)[:] = -1                                 # the client reuses it
            chunks = list(stub.GetValue(pb.GetValueRequest(handle=out.handle), metadata=MD, timeout=30))
            assert np.array_equal(np.frombuffer(b"".join(c.data for c in chunks), np.float32), a)
        finally:
            m.close()
            shm.unlink(name)


def test_off_on_the_server_or_the_client_falls_back_to_bytes(make_server, server_target):
    target = make_server(ServerConfig(shm_bytes=0, warm_up=False))
    a = np.ones(1 << 19, np.float32)
    with gw.connect(target) as s:
        assert (s.tensor(a) * 2).sum().item() == 2 * a.size and s.shared_memory() is None
    with gw.connect(server_target, shared_memory=False) as s:
        assert (s.tensor(a) * 2).sum().item() == 2 * a.size and s.shared_memory() is None


def _fails(call, code, words):
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() is code and words in e.value.details(), e.value.details()


def test_refusals_name_the_reason(server_target, tmp_path):
    with grpc.insecure_channel(server_target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        hello = lambda region: stub.OpenSharedMemory(  # noqa: E731
            pb.SharedMemoryRequest(region=region, client_pid=os.getpid()), metadata=MD, timeout=10)
        _fails(lambda: hello("../../etc/passwd"), grpc.StatusCode.FAILED_PRECONDITION, "is not gradwire-PID-PID-HEX")
        _fails(lambda: hello(shm.new_name(0)), grpc.StatusCode.FAILED_PRECONDITION, "does not exist on this host")
        loose = shm.write(0, np.zeros(32, np.uint8))
        os.chmod(os.path.join(shm.ROOT, loose), 0o644)
        try:
            _fails(lambda: hello(loose), grpc.StatusCode.FAILED_PRECONDITION, "not a private (0600) file")
        finally:
            shm.unlink(loose)
        dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True).stdout)
        region = shm.write(0, np.zeros(32, np.uint8))
        try:
            _fails(lambda: stub.OpenSharedMemory(pb.SharedMemoryRequest(region=region, client_pid=dead),
                                                 metadata=MD, timeout=10),
                   grpc.StatusCode.FAILED_PRECONDITION, "another pid namespace")
        finally:
            shm.unlink(region)
        session = _negotiate(stub)
        name = shm.write(session.server_pid, np.zeros(1 << 18, np.float32))
        request = pb.EvaluateRequest(graph=_sum_graph(), outputs=[1])
        request.inputs["x"].CopyFrom(pb.Tensor(dtype=pb.FLOAT32, shape=[1 << 19],
                                               shm=pb.SharedRegion(name=name, nbytes=1 << 21)))
        _fails(lambda: stub.Evaluate(request, metadata=MD, timeout=10), grpc.StatusCode.FAILED_PRECONDITION,
               "fewer than the 2097152 named")
        request.inputs["x"].shm.nbytes = 12
        _fails(lambda: stub.Evaluate(request, metadata=MD, timeout=10), grpc.StatusCode.INVALID_ARGUMENT,
               "needs 2097152")
        shm.unlink(name)
        request.inputs["x"].shm.nbytes = 1 << 21
        _fails(lambda: stub.Evaluate(request, metadata=MD, timeout=10), grpc.StatusCode.FAILED_PRECONDITION,
               "does not exist")


def test_the_sweeper_removes_regions_of_dead_processes():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    orphan = f"gradwire-{dead}-{os.getpid()}-{'ab' * 8}"
    live = shm.write(os.getpid(), np.zeros(8, np.uint8))
    with open(os.path.join(shm.ROOT, orphan), "wb"):
        pass
    try:
        assert orphan not in shm.sweep()        # too young: a restarted worker may be about to map it
        removed = shm.sweep(min_age=0)
        assert orphan in removed and live not in removed and os.path.exists(os.path.join(shm.ROOT, live))
    finally:
        shm.unlink(live)
        shm.unlink(orphan)


# A client that keeps 8 MiB tensors and their gradients moving through shared memory, errors or not.
LOOP = textwrap.dedent("""
    import sys, numpy as np, gradwire as gw
    s = gw.connect(sys.argv[1], timeout=10)
    a = np.ones(2 << 20, np.float32)
    first = True
    while True:
        try:
            x = s.tensor(a, requires_grad=True)
            (x * x).sum().backward()
            x.grad._value()
            if first:
                print("moving", s.shared_memory() is not None, flush=True)
                first = False
        except Exception as e:
            if first:
                print("failed", e, flush=True)
                first = False
""")


def _wait_clean(pid: int, seconds: float = 10.0) -> list[str]:
    end = time.monotonic() + seconds
    while _regions(pid) and time.monotonic() < end:
        time.sleep(0.2)
    return _regions(pid)


@pytest.mark.parametrize("victim", ["client", "server"])
def test_sigkill_on_either_side_leaves_no_region(server_process, victim):
    server, target = server_process("--processes", "1", "--no-warm-up", "--log-level", "warning")
    client = subprocess.Popen([sys.executable, "-c", LOOP, target], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "moving True"
        time.sleep(1.0)                          # mid-traffic: regions exist on both sides at any moment
        dead = client if victim == "client" else server
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=10)
        assert _wait_clean(dead.pid) == []       # removed by the survivor's sweeper
    finally:
        for p in (client, server):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
