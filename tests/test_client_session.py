"""Sessions: targets, the embedded server, auth, deadlines, status codes, a numba-free client."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import grpc
import pytest

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401

PY = sys.executable


def _env_without_target():
    env = dict(os.environ)
    env.pop("GRADWIRE_TARGET", None)
    env.pop("GRADWIRE_TOKEN", None)
    return env


def test_session_methods_mirror_the_module(server_target):
    with gw.connect(server_target) as s:
        x = s.arange(4.0, requires_grad=True)
        y = 2 * s.dot(x, x)
        y.backward()
        assert repr(x.grad) == "tensor([ 0.,  4.,  8., 12.])"
        assert s.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
        g, = s.grad(s.sin(x).sum(), x)
        assert g._node.session is s and s.pi == gw.pi
    assert s.closed
    with pytest.raises(gw.Unavailable):
        (x * 2).sum().item()


def test_target_from_environment(server_target, monkeypatch):
    monkeypatch.setenv("GRADWIRE_TARGET", server_target)
    with gw.connect() as s:
        assert s.target == server_target and s._server is None
        assert s.ones(2).sum().item() == 2.0


def test_embedded_server_starts_and_stops():
    code = textwrap.dedent("""
        import gradwire as gw
        with gw.connect() as s:
            proc = s._server._proc
            x = s.arange(4.0, requires_grad=True)
            (2 * s.dot(x, x)).backward()
            print(x.grad)
        print(proc.poll() is not None)
    """)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=180,
                         env=_env_without_target())
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["tensor([ 0.,  4.,  8., 12.])", "True"]


def test_embedded_server_without_the_server_extra_says_what_to_install(tmp_path):
    # A client-only install has no numba: the embedded server cannot start, and the error says why.
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'numba'\")\n")
    env = _env_without_target()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    code = textwrap.dedent("""
        import gradwire as gw
        try:
            gw.connect()
        except RuntimeError as e:
            print(e)
    """)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert "exited before it was ready" in out.stdout, out.stdout + out.stderr
    assert "pip install 'gradwire[server]'" in out.stdout


def test_module_functions_use_a_default_session(server_target):
    code = "import gradwire as gw; x = gw.arange(4.0); print(x * x, gw.default_session().target)"
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**_env_without_target(), "GRADWIRE_TARGET": server_target})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"tensor([0., 1., 4., 9.]) {server_target}"


def test_client_works_without_numba_or_the_engine(server_target):
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "numba" or name.startswith(("numba.", "gradwire.engine", "gradwire.service")):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        sys.modules["numba"] = None
        import gradwire as gw
        with gw.connect({server_target!r}) as s:
            x = s.tensor([1.0, 2.0], requires_grad=True)
            (x * x).sum().backward()
            print(x.grad.tolist())
        assert not any(m == "numba" or m.startswith(("gradwire.engine", "gradwire.service"))
                       for m, v in sys.modules.items() if v is not None)
    """)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120,
                         env=_env_without_target())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2.0, 4.0]"


@pytest.fixture(scope="module")
def token_target(serve):
    from gradwire.service.config import ServerConfig
    with serve(ServerConfig(token="s3cret", warm_up=False)) as (target, _):
        yield target


def test_bearer_token(token_target, monkeypatch):
    monkeypatch.delenv("GRADWIRE_TOKEN", raising=False)
    with gw.connect(token_target) as s:
        with pytest.raises(gw.Unauthenticated) as info:
            s.ones(2).sum().item()
        assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    with gw.connect(token_target, token="wrong") as s:
        with pytest.raises(gw.Unauthenticated):
            s.ones(2).sum().item()
    with gw.connect(token_target, token="s3cret") as s:
        assert s.ones(2).sum().item() == 2.0
    monkeypatch.setenv("GRADWIRE_TOKEN", "s3cret")
    with gw.connect(token_target) as s:
        assert s.ones(3).sum().item() == 3.0


def test_deadline_exceeded(server_target):
    # A computation of about a second against a 50 ms deadline: the deadline surely passes first
    # (a microsecond deadline is not a test: gRPC's timers may round it up past a fast call).
    with gw.connect(server_target, timeout=0.05) as s:
        x = s.randn(384, 384) / 20
        y = x
        for _ in range(1000):
            y = s.tanh(y @ x)
        start = time.monotonic()
        with pytest.raises(gw.DeadlineExceeded) as info:
            y.sum().item()
        assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 1.0


def _closed_port() -> int:
    import socket
    with socket.socket() as sock:      # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unavailable():
    with gw.connect(f"127.0.0.1:{_closed_port()}", timeout=5) as s:
        with pytest.raises(gw.Unavailable) as info:
            s.ones(2).sum().item()
        assert info.value.code == grpc.StatusCode.UNAVAILABLE


def test_resource_exhausted(make_server):
    from gradwire.service.config import ServerConfig
    target = make_server(ServerConfig(max_tensor_elements=1000, max_intermediate_elements=1000, warm_up=False))
    with gw.connect(target) as s:
        x = s.ones(40)
        with pytest.raises(gw.ResourceExhausted) as info:
            (x.reshape(40, 1) * x).sum().item()       # a 1600-element intermediate
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (x * 2).sum().item() == 80.0          # the session stays usable


def test_unimplemented_and_invalid_argument_statuses(session):
    from gradwire import ops
    with pytest.raises(LookupError, match="unknown op 'no_such_op'"):    # refused before anything is sent
        ops.apply("no_such_op", gw.ones(2))
    with pytest.raises(RuntimeError, match=r"shape '\[4\]' is invalid for input of size 6"):
        gw.ones(2, 3).reshape(4)
    index = gw.tensor([1]) * 5                  # a value only the server knows: it finds the mistake
    with pytest.raises(gw.InvalidArgument) as info:
        gw.ones(3)[index].item()
    assert "index 5 is out of bounds" in str(info.value) and "take" in str(info.value)
