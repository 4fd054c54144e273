"""Unix domain sockets: `--unix PATH` beside or instead of TCP, 0600 socket files, taken paths refused,
files removed on drain; clients connect with gw.connect("unix:PATH"); the embedded server uses one."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap

import grpc
import pytest

import gradwire as gw
from conftest import READY_PREFIX, running_server
from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


def _ready_lines(proc, count: int) -> list[str]:
    lines = []
    for raw in proc.stdout:
        if raw.startswith(READY_PREFIX):
            lines.append(raw[len(READY_PREFIX):].strip())
            if len(lines) == count:
                return lines
    raise AssertionError(f"server exited ({proc.wait()}): {proc.stderr.read()}")


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "gradwire.service", "--no-warm-up", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _seed(target: str) -> str:
    with gw.connect(target) as s:
        x = s.arange(4.0, requires_grad=True)
        (2 * s.dot(x, x)).backward()
        return repr(x.grad)


def test_in_process_server_on_a_unix_path_is_0600_and_removed_on_drain(tmp_path):
    path = str(tmp_path / "gw.sock")
    with running_server(ServerConfig(warm_up=False), address=f"unix:{path}") as (_, server):
        mode = os.lstat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert _seed(f"unix:{path}") == "tensor([ 0.,  4.,  8., 12.])"
    assert not os.path.exists(path)


def test_unix_only_then_beside_tcp(tmp_path):
    path = str(tmp_path / "only.sock")
    proc = _spawn("--unix", path)
    try:
        assert _ready_lines(proc, 1) == [f"unix:{path}"]
        assert _seed(f"unix:{path}") == "tensor([ 0.,  4.,  8., 12.])"
        # No TCP listener: the default port stays closed (nothing else in this test binds it).
        with grpc.insecure_channel(f"unix:{path}") as ch:
            info = pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=10)
            assert info.limits.processes == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not os.path.exists(path)
    finally:
        proc.kill()
        proc.wait()
    both = str(tmp_path / "both.sock")
    proc = _spawn("--unix", both, "--port", "0")
    try:
        tcp, uds = _ready_lines(proc, 2)
        assert tcp.startswith("127.0.0.1:") and uds == f"unix:{both}"
        assert _seed(tcp) == _seed(uds) == "tensor([ 0.,  4.,  8., 12.])"
    finally:
        proc.kill()
        proc.wait()


def test_a_taken_path_or_a_file_that_is_no_socket_is_refused(tmp_path):
    path = str(tmp_path / "taken.sock")
    with running_server(ServerConfig(warm_up=False), address=f"unix:{path}"):
        out = subprocess.run([sys.executable, "-m", "gradwire.service", "--no-warm-up", "--unix", path],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "another server is listening" in out.stderr, out.stderr
        assert _seed(f"unix:{path}") == "tensor([ 0.,  4.,  8., 12.])"   # still the first server's
    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")
    out = subprocess.run([sys.executable, "-m", "gradwire.service", "--no-warm-up", "--unix", str(plain)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "not a socket" in out.stderr and plain.read_text() == "keep me"
    # A stale socket file (its server died) is replaced.
    stale = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(stale)
    with running_server(ServerConfig(warm_up=False), address=f"unix:{stale}"):
        assert _seed(f"unix:{stale}") == "tensor([ 0.,  4.,  8., 12.])"


def test_unix_with_several_processes_is_a_bad_setting(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gradwire.service", "--unix", str(tmp_path / "x.sock"),
                          "--processes", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--processes must be 1" in out.stderr


def test_embedded_server_listens_on_a_private_unix_socket():
    code = textwrap.dedent("""
        import os, stat
        import gradwire as gw
        with gw.connect() as s:
            path = s._server.socket_path
            where = os.path.dirname(path)
            print(s.target == "unix:" + path, oct(stat.S_IMODE(os.stat(where).st_mode)),
                  oct(stat.S_IMODE(os.lstat(path).st_mode)))
            x = s.arange(4.0, requires_grad=True)
            (2 * s.dot(x, x)).backward()
            print(x.grad)
        print(os.path.exists(where))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("GRADWIRE_TARGET", "GRADWIRE_TOKEN")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["True 0o700 0o600", "tensor([ 0.,  4.,  8., 12.])", "False"]
