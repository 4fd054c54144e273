"""A client in another language, built from the .proto alone (tests/conformance/client.mjs, Node.js with
@grpc/grpc-js): it computes part hashes and resident handles from the spec, sends by hash first, calls every
RPC and gets every status the schema promises. Slow: npm installs its three packages on first use, into
.conformance/ (gitignored; kept for later runs)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from gradwire.service.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["@grpc/grpc-js@1.14.7", "@grpc/proto-loader@0.8.1", "@noble/hashes@2.4.0"]
NODE_DIR = ROOT / ".conformance" / "node"


def _node_client() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    stamp = NODE_DIR / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(PACKAGES):
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text('{"private": true, "type": "module"}\n')
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *PACKAGES], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        stamp.write_text(" ".join(PACKAGES))
    shutil.copy(ROOT / "tests" / "conformance" / "client.mjs", NODE_DIR / "client.mjs")
    return NODE_DIR / "client.mjs"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # closed again on return: nothing listens there


@pytest.mark.slow
def test_node_client_from_the_proto_alone(make_server) -> None:
    script = _node_client()
    target = make_server(ServerConfig(metrics_port=0))
    token = "conformance-token"
    token_target = make_server(ServerConfig(metrics_port=0, token=token))
    r = subprocess.run(["node", str(script), str(ROOT / "proto" / "gradwire" / "v1" / "gradwire.proto"), target,
                        token_target, token, f"127.0.0.1:{_closed_port()}"],
                       capture_output=True, text=True, timeout=300)
    report = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {"stdout": r.stdout}
    print("\nNode.js conformance client:", json.dumps(report, indent=1)[:4000])
    assert r.returncode == 0, (report, r.stderr[-3000:])
    assert set(report["rpcs"]) == {"ListOps", "GetServerInfo", "Evaluate", "Gradient", "Jvp", "Jacobian", "Hessian",
                                   "CheckGradients"}
    assert set(report["statuses"]) == {"NOT_FOUND", "INVALID_ARGUMENT", "UNIMPLEMENTED", "RESOURCE_EXHAUSTED",
                                       "DEADLINE_EXCEEDED", "UNAUTHENTICATED", "UNAVAILABLE"}
    assert report["failures"] == []
