"""The committed protobuf/gRPC stubs must match gradwire.proto.

Regenerates the stubs with grpcio-tools into a temporary directory and compares
them with proto/gradwire/v1/gradwire_pb2*.py* byte for byte, except for the
generator's version stamps: grpcio-tools is pinned to 1.85.*, and a patch
release of it (or of its bundled protoc) changes only those lines, which must
not turn a fresh CI run red. Run `make proto` to refresh stale stubs.
"""
from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
SCHEMA = "gradwire/v1/gradwire.proto"
STUBS = ("gradwire_pb2.py", "gradwire_pb2.pyi", "gradwire_pb2_grpc.py")

# Lines that only name the generator's version.
_VERSION_STAMPS = [
    (re.compile(r"^# Protobuf Python Version: .*$", re.M), "# Protobuf Python Version: <v>"),
    # the (major, minor, patch, suffix) arguments, one per line
    (re.compile(r"(?<=_runtime_version\.Domain\.PUBLIC,\n)((?:\s*(?:\d+|'[^']*'),\n){4})"),
     lambda m: re.sub(r"\d+|'[^']*'", "<v>", m.group(1))),
    (re.compile(r"^GRPC_GENERATED_VERSION = '[^']*'$", re.M), "GRPC_GENERATED_VERSION = '<v>'"),
]


def _normalise(text: str) -> str:
    for pattern, replacement in _VERSION_STAMPS:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is in the `test` extra")
    out = tmp_path_factory.mktemp("stubs")
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
           f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}",
           str(PROTO_DIR / SCHEMA)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"protoc failed:\n{proc.stdout}\n{proc.stderr}"
    return out / "gradwire" / "v1"


@pytest.mark.parametrize("name", STUBS)
def test_committed_stub_matches_schema(generated: Path, name: str) -> None:
    committed = PROTO_DIR / "gradwire" / "v1" / name
    assert committed.exists(), f"{committed.relative_to(ROOT)} is missing: run `make proto`"
    fresh = _normalise((generated / name).read_text())
    current = _normalise(committed.read_text())
    if fresh != current:
        diff = "".join(difflib.unified_diff(
            current.splitlines(keepends=True), fresh.splitlines(keepends=True),
            fromfile=f"committed/{name}", tofile=f"regenerated/{name}", n=1))
        pytest.fail(f"{name} is stale relative to {SCHEMA}; run `make proto` and commit.\n"
                    + diff[:6000])


def test_normalisation_only_hides_version_stamps(generated: Path) -> None:
    """Guard against the masks swallowing real content: they touch a handful of lines."""
    for name in STUBS:
        text = (generated / name).read_text()
        changed = [a for a, b in zip(text.splitlines(), _normalise(text).splitlines()) if a != b]
        assert len(changed) <= 5, (name, changed)
        assert len(text.splitlines()) == len(_normalise(text).splitlines())


def test_stubs_import_under_package_name() -> None:
    """The stubs import each other as gradwire.v1 (the package-dir mapping)."""
    from gradwire.v1 import gradwire_pb2, gradwire_pb2_grpc

    assert gradwire_pb2.DESCRIPTOR.package == "gradwire.v1"
    assert hasattr(gradwire_pb2_grpc, "AutodiffStub")
    names = {m.name for m in gradwire_pb2.DESCRIPTOR.services_by_name["Autodiff"].methods}
    assert {"Evaluate", "Gradient", "GetServerInfo"} <= names
