"""Bearer-token auth (health exempt) and TLS with a self-signed certificate made in the test."""
from __future__ import annotations

import datetime
import ipaddress

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

TOKEN = "correct horse battery staple"


def code_of(call, *args, **kwargs) -> grpc.StatusCode:
    try:
        call(*args, **kwargs)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


@pytest.fixture(scope="module")
def authed(serve):
    with serve(ServerConfig(token=TOKEN, warm_up=False)) as (target, _), \
            grpc.insecure_channel(target) as ch:
        yield ch


@pytest.mark.parametrize("metadata, expected", [
    (None, grpc.StatusCode.UNAUTHENTICATED),
    ([("authorization", "Bearer wrong")], grpc.StatusCode.UNAUTHENTICATED),
    ([("authorization", TOKEN)], grpc.StatusCode.UNAUTHENTICATED),   # no "Bearer "
    ([("authorization", f"Bearer {TOKEN}x")], grpc.StatusCode.UNAUTHENTICATED),
    ([("authorization", f"Bearer {TOKEN}")], grpc.StatusCode.OK),
], ids=["none", "wrong", "no-scheme", "longer", "right"])
def test_token_is_required_for_autodiff(authed, wire, metadata, expected):
    stub = pb_grpc.AutodiffStub(authed)
    g = wire.GraphBuilder()
    one = g.constant(1.0)
    assert code_of(stub.ListOps, pb.ListOpsRequest(), metadata=metadata, timeout=5) is expected
    assert code_of(stub.Evaluate, pb.EvaluateRequest(graph=g.ref(), outputs=[one]),
                   metadata=metadata, timeout=5) is expected


def test_garbage_bytes_without_token_are_unauthenticated(authed):
    raw = authed.unary_unary("/gradwire.v1.Autodiff/Evaluate")
    assert code_of(raw, b"\xff\xff", timeout=5) is grpc.StatusCode.UNAUTHENTICATED


def test_health_is_exempt_and_reflection_is_not(authed):
    check = health_pb2_grpc.HealthStub(authed).Check
    assert check(health_pb2.HealthCheckRequest(), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(authed).ServerReflectionInfo
    listing = [reflection_pb2.ServerReflectionRequest(list_services="")]
    assert code_of(lambda: list(reflect(iter(listing), timeout=5))) is \
        grpc.StatusCode.UNAUTHENTICATED
    assert code_of(lambda: list(reflect(iter(listing), timeout=5, metadata=[
        ("authorization", f"Bearer {TOKEN}")]))) is grpc.StatusCode.OK


def test_no_token_configured_means_no_auth(stub):
    assert stub.ListOps(pb.ListOpsRequest(), timeout=5).ops


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1: (cert path, key path, PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem"), pem


def test_tls_with_token(make_server, certificate):
    cert, key, pem = certificate
    target = make_server(ServerConfig(tls_cert=cert, tls_key=key, token=TOKEN, warm_up=False))
    port = target.rsplit(":", 1)[1]
    credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=pem),
        grpc.access_token_call_credentials(TOKEN))   # sends `authorization: Bearer <token>`
    with grpc.secure_channel(f"localhost:{port}", credentials) as ch:
        assert pb_grpc.AutodiffStub(ch).ListOps(pb.ListOpsRequest(), timeout=10).ops
    # Plaintext against the TLS port never gets an answer.
    with grpc.insecure_channel(target) as ch:
        assert code_of(pb_grpc.AutodiffStub(ch).ListOps, pb.ListOpsRequest(),
                       timeout=5) is grpc.StatusCode.UNAVAILABLE
    # TLS with someone else's CA is refused as well.
    other = grpc.ssl_channel_credentials()
    with grpc.secure_channel(f"localhost:{port}", other) as ch:
        assert code_of(pb_grpc.AutodiffStub(ch).ListOps, pb.ListOpsRequest(),
                       timeout=5) is grpc.StatusCode.UNAVAILABLE
