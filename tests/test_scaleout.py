"""Scale-out for real, on loopback: three server replicas behind nginx.

The production deployment (docker-compose.yml) runs N replicas behind nginx with
loadtest/nginx.conf; tests/test_compose.py runs that with Docker. This suite starts
the same thing from processes, which is quicker and lets it look inside: three `python -m gradwire.service` replicas on loopback
ports, and Debian's nginx with loadtest/nginx.conf rendered for those ports
(`make test-slow` installs nginx-light when it is missing). It checks that

- every answer through the load balancer is right (NumPy reference),
- more than one replica serves (nginx's access log names the upstream of each
  call; the replicas' own metrics agree when the server exposes them),
- a part sent by hash to a replica that has not seen it gets NOT_FOUND, the
  resend works, and hashes are the same on every replica,
- affinity: a training loop misses far fewer by-hash parts and resident values
  through consistent hashing than through round robin (measured, printed),
- when a replica is killed mid-run, nginx routes around it and no call fails.

All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from gradwire.session import RETRY_POLICY as RETRY_UNAVAILABLE  # the client's own policy

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "loadtest" / "nginx.conf"
COMPOSE = ROOT / "docker-compose.yml"
REPLICAS = 3
READY = re.compile(r"gradwire-server ready on (\S+):(\d+)")


def _load_graphs():
    """loadtest/graphs.py (shared with the locust load test), under a name of its own."""
    spec = importlib.util.spec_from_file_location("gradwire_loadtest_graphs", ROOT / "loadtest" / "graphs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


graphs = _load_graphs()


def _nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- config
def test_compose_and_nginx_conf_agree() -> None:
    """docker-compose's replicas are exactly nginx's upstream servers (cheap, not slow)."""
    upstream = re.findall(r"^\s*server\s+(gradwire-\d+):50051\b", NGINX_CONF.read_text(), re.M)
    compose = COMPOSE.read_text()
    services = re.findall(r"^  (gradwire-\d+):", compose, re.M)
    assert upstream and sorted(upstream) == sorted(services)
    assert "./loadtest/nginx.conf:/etc/nginx/conf.d/default.conf" in compose
    assert re.search(r"^\s*listen\s+50051\s+http2;", NGINX_CONF.read_text(), re.M)


def render_nginx_conf(replica_ports: list[int], lb_port: int, access_log: Path) -> str:
    """loadtest/nginx.conf with the compose host names swapped for loopback ports."""
    text = NGINX_CONF.read_text()
    names = re.findall(r"^\s*server\s+gradwire-(\d+):50051\b", text, re.M)
    assert len(names) == len(replica_ports), (names, replica_ports)
    for n, port in zip(names, replica_ports):
        text, count = re.subn(rf"(^\s*server\s+)gradwire-{n}:50051\b", rf"\g<1>127.0.0.1:{port}", text, flags=re.M)
        assert count == 1
    text, count = re.subn(r"^(\s*listen\s+)50051(\s+http2;)", rf"\g<1>127.0.0.1:{lb_port}\g<2>", text, flags=re.M)
    assert count == 1
    text, count = re.subn(r"^(\s*access_log\s+)\S+", rf"\g<1>{access_log}", text, flags=re.M)
    assert count == 1
    return text


# --------------------------------------------------------------------------- cluster
@dataclass
class Replica:
    index: int
    proc: subprocess.Popen
    log: Path
    port: int = 0
    metrics_port: int | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()


@dataclass
class Cluster:
    replicas: list[Replica]
    lb_port: int
    access_log: Path
    nginx: subprocess.Popen
    workdir: Path
    killed: set[int] = field(default_factory=set)

    @property
    def lb_addr(self) -> str:
        return f"127.0.0.1:{self.lb_port}"

    def access_entries(self, start: int = 0, end: int | None = None) -> list[dict]:
        """Parsed access-log lines between byte offsets `start` and `end`."""
        out = []
        with open(self.access_log, "rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
            for line in data.decode(errors="replace").splitlines():
                m = re.search(r'"POST /gradwire\.v1\.Autodiff/(\w+) [^"]*" (\d+) upstream=(.*?) '
                              r'upstream_status=(.*?) grpc_status=(.*?) (\S+) rt=', line)
                if m:
                    # With a retry, nginx lists every upstream tried: "a:1, b:2".
                    upstreams = [u for u in re.split(r"\s*[,:]\s+", m.group(3).strip()) if u]
                    # grpc-status from the trailers, else from a trailers-only response.
                    upstream_status, trailer, header = (re.split(r"\s*[,:]\s+", g.strip())[-1]
                                                        for g in m.group(4, 5, 6))
                    status = trailer if trailer != "-" else header
                    out.append({"method": m.group(1), "http": int(m.group(2)), "upstreams": upstreams,
                                "upstream_status": upstream_status, "grpc_status": status})
        return out


def _start_replicas(workdir: Path, env: dict, with_metrics: bool) -> list[Replica]:
    replicas = []
    for i in range(REPLICAS):
        log = workdir / f"replica-{i}.log"
        # One process per replica, as docker-compose.yml runs them: worker processes keep their own caches
        # and the kernel picks one per connection, so a balancer's affinity can reach only a replica.
        cmd = [sys.executable, "-m", "gradwire.service", "--host", "127.0.0.1", "--port", "0", "--processes", "1"]
        metrics_port = None
        if with_metrics:
            metrics_port = _free_port()
            cmd += ["--metrics-port", str(metrics_port)]
        with open(log, "wb") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                    start_new_session=True)
        replicas.append(Replica(i, proc, log, metrics_port=metrics_port))
    deadline = time.monotonic() + 300  # three cold Numba warm-ups share two cores
    for r in replicas:
        while True:
            m = READY.search(r.log.read_text(errors="replace"))
            if m:
                r.port = int(m.group(2))
                break
            if r.proc.poll() is not None:
                pytest.fail(f"replica {r.index} exited with {r.proc.returncode}:\n{r.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"replica {r.index} not ready after 300 s:\n{r.log.read_text()[-3000:]}")
            time.sleep(0.1)
    return replicas


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _start_nginx(nginx: str, workdir: Path, conf: str, lb_port: int) -> subprocess.Popen:
    """nginx with `conf` (a rendered loadtest/nginx.conf) as its http block, listening on lb_port."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "gradwire.conf").write_text(conf)
    (workdir / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/gradwire.conf;
}}
""")
    base = [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(workdir / "nginx.conf")]
    check = subprocess.run(base + ["-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t rejected the rendered loadtest/nginx.conf:\n{check.stderr}"
    proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", lb_port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc, signal.SIGQUIT)
                pytest.fail("nginx did not start:\n" + (workdir / "error.log").read_text()[-3000:])
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nginx = _nginx_binary()
    if nginx is None:
        pytest.skip("nginx is not installed (`make test-slow` installs Debian's nginx-light)")
    workdir = tmp_path_factory.mktemp("scaleout")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    env.pop("GRADWIRE_TOKEN", None)
    help_text = subprocess.run([sys.executable, "-m", "gradwire.service", "--help"], capture_output=True,
                               text=True, env=env, timeout=120).stdout
    replicas = _start_replicas(workdir, env, with_metrics="--metrics-port" in help_text)
    nginx_proc = None
    try:
        lb_port = _free_port()
        access_log = workdir / "access.log"
        nginx_proc = _start_nginx(nginx, workdir, render_nginx_conf([r.port for r in replicas], lb_port, access_log),
                                  lb_port)
        yield Cluster(replicas, lb_port, access_log, nginx_proc, workdir)
    finally:
        if nginx_proc is not None:
            _stop(nginx_proc, signal.SIGQUIT)
        for r in replicas:
            _stop(r.proc)


# --------------------------------------------------------------------------- clients
# What a client behind a load balancer should use: every gradwire RPC is a pure
# function of its request, so UNAVAILABLE (for example nginx's answer for a call
# that was in flight on a replica that died) is safe to retry.


def _stub(addr: str, retry: bool = False):
    import grpc

    from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

    options = [("grpc.use_local_subchannel_pool", 1)]
    if retry:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", RETRY_UNAVAILABLE)]
    channel = grpc.insecure_channel(addr, options=options)
    return channel, pb_grpc.AutodiffStub(channel)


@dataclass
class Tally:
    ok: int = 0
    wrong: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    not_found: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _one_call(stub, kind: int, rng, hashes: list, tally: Tally) -> None:
    """One Evaluate, full Gradient, or by-hash Gradient (resend on NOT_FOUND); tallies the outcome."""
    import grpc

    try:
        if kind == 0:
            x = rng.standard_normal(graphs.SMALL_N).astype(np.float32)
            problem = graphs.check_small(stub.Evaluate(graphs.small_request(x), timeout=30), x)
        else:
            inp = graphs.mlp_inputs(rng, 16)
            expected = graphs.mlp_expected(inp)
            resp = None
            if kind == 2 and hashes:
                try:
                    resp = stub.Gradient(graphs.mlp_request(inp, hashes[0]), timeout=30)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    with tally.lock:
                        tally.not_found += 1
            if resp is None:
                resp = stub.Gradient(graphs.mlp_request(inp), timeout=30)
                if not hashes:
                    hashes.append(list(resp.info.part_hashes))
            problem = graphs.check_mlp(resp, expected)
    except grpc.RpcError as e:
        with tally.lock:
            tally.errors.append(f"{e.code().name}: {e.details()}")
        return
    with tally.lock:
        if problem:
            tally.wrong.append(problem)
        else:
            tally.ok += 1


def _drive(addr: str, threads: int, calls_per_thread: int, tally: Tally, seconds: float = 120,
           progress: threading.Event | None = None, progress_at: int = 0, retry: bool = False,
           pause: float = 0.0) -> None:
    """`threads` clients, each with its own channel, each making a bounded number of calls."""
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        channel, stub = _stub(addr, retry)
        rng = np.random.default_rng(seed)
        hashes: list = []
        try:
            for i in range(calls_per_thread):
                if time.monotonic() > deadline:
                    break
                _one_call(stub, i % 3, rng, hashes, tally)
                time.sleep(pause)
                if progress is not None and tally.ok + len(tally.errors) >= progress_at:
                    progress.set()
        finally:
            channel.close()

    pool = [threading.Thread(target=worker, args=(s,), daemon=True) for s in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 60)
    assert not any(t.is_alive() for t in pool), "client threads did not finish"


# --------------------------------------------------------------------------- tests
@pytest.mark.slow
def test_by_hash_not_found_then_resend_across_replicas(cluster: Cluster) -> None:
    import grpc

    rng = np.random.default_rng(1)
    inp = graphs.mlp_inputs(rng, 16)
    expected = graphs.mlp_expected(inp)
    a, b = cluster.replicas[0], cluster.replicas[1]
    ch_a, stub_a = _stub(a.addr)
    ch_b, stub_b = _stub(b.addr)
    try:
        first = stub_a.Gradient(graphs.mlp_request(inp), timeout=30)
        assert graphs.check_mlp(first, expected) is None
        hashes = list(first.info.part_hashes)
        assert len(hashes) == 2 and all(hashes)
        # Replica A now resolves the hashes; replica B has never seen them.
        assert graphs.check_mlp(stub_a.Gradient(graphs.mlp_request(inp, hashes), timeout=30), expected) is None
        with pytest.raises(grpc.RpcError) as info:
            stub_b.Gradient(graphs.mlp_request(inp, hashes), timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value
        resent = stub_b.Gradient(graphs.mlp_request(inp), timeout=30)
        assert graphs.check_mlp(resent, expected) is None
        assert list(resent.info.part_hashes) == hashes, "part hashes must be the same on every replica"
        assert graphs.check_mlp(stub_b.Gradient(graphs.mlp_request(inp, hashes), timeout=30), expected) is None
    finally:
        ch_a.close()
        ch_b.close()

    # Through the load balancer, with 30 affinity keys (x-gradwire-affinity): consistent hashing spreads
    # them over the replicas and sends each key to the same one every time. Replica C has not seen the
    # parts, so the by-hash calls of C's keys get NOT_FOUND and their resends teach C; after that no key
    # misses. Calls stay correct throughout.
    keys = [(("x-gradwire-affinity", f"key-{k}"),) for k in range(30)]
    ch, stub = _stub(cluster.lb_addr)
    try:
        def by_hash_with_resend() -> int:
            misses = 0
            for metadata in keys:
                inp = graphs.mlp_inputs(rng, 16)
                expected = graphs.mlp_expected(inp)
                try:
                    resp = stub.Gradient(graphs.mlp_request(inp, hashes), timeout=30, metadata=metadata)
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.NOT_FOUND, e
                    misses += 1
                    resp = stub.Gradient(graphs.mlp_request(inp), timeout=30, metadata=metadata)
                    assert list(resp.info.part_hashes) == hashes
                assert graphs.check_mlp(resp, expected) is None
            return misses

        assert by_hash_with_resend() >= 1, "the replica that never saw the parts should answer NOT_FOUND"
        assert by_hash_with_resend() == 0, "a key's resend lands where its next by-hash call goes"
    finally:
        ch.close()


@pytest.mark.slow
def test_load_through_balancer_is_correct_and_spread(cluster: Cluster) -> None:
    offset = cluster.access_log.stat().st_size
    tally = Tally()
    _drive(cluster.lb_addr, threads=6, calls_per_thread=50, tally=tally)
    assert not tally.wrong, tally.wrong[:5]
    assert not tally.errors, tally.errors[:5]
    assert tally.ok == 300

    entries = cluster.access_entries(offset)
    assert len(entries) >= 300
    assert all(e["http"] == 200 and e["grpc_status"] in ("0", "5") for e in entries), \
        [e for e in entries if e["grpc_status"] not in ("0", "5")][:5]
    served: dict[str, int] = {}
    for e in entries:
        served[e["upstreams"][-1]] = served.get(e["upstreams"][-1], 0) + 1
    print(f"\ncalls served per replica (nginx access log): {served}")
    assert set(served) <= {r.addr for r in cluster.replicas}
    assert len(served) == REPLICAS, served
    # These clients send no affinity key: nginx hashes a random one per call (as even as round robin, on
    # average); nobody gets less than half a fair share.
    assert min(served.values()) >= len(entries) / REPLICAS / 2, served


def _metric_sum(text: str, name: str, **labels: str | tuple[str, ...]) -> float:
    """Sum of the samples of `name` whose labels match (a tuple matches any of its values)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})?\s+(\S+)$", line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in labels.items()):
            total += float(m.group(2))
    return total


@pytest.mark.slow
def test_replica_metrics_show_the_spread(cluster: Cluster) -> None:
    """The replicas' own Prometheus counters agree with the access log."""
    if any(r.metrics_port is None for r in cluster.replicas):
        pytest.skip("this server build has no --metrics-port")
    served, misses = {}, {}
    for r in cluster.replicas:
        text = r.metrics()
        served[r.addr] = _metric_sum(text, "grpc_server_handled_total",
                                     grpc_method=("Evaluate", "Gradient"), grpc_code="OK")
        misses[r.addr] = _metric_sum(text, "gradwire_part_cache_misses_total") or \
            _metric_sum(text, "gradwire_part_cache_misses")
    print(f"\nEvaluate/Gradient calls answered OK per replica (replica metrics): {served}; "
          f"part-cache misses (NOT_FOUND): {misses}")
    assert all(v >= 50 for v in served.values()), served
    assert sum(misses.values()) >= 1, misses


@pytest.mark.slow
def test_large_tensor_passes_the_balancer(cluster: Cluster) -> None:
    """An 8 MiB input goes through (nginx's default body limit of 1 MiB would refuse it)."""
    x = np.random.default_rng(3).standard_normal(1 << 21).astype(np.float32)
    ch, stub = _stub(cluster.lb_addr)
    try:
        resp = stub.Evaluate(graphs.small_request(x), timeout=60)
    finally:
        ch.close()
    assert graphs.check_small(resp, x) is None


def _load_while(cluster: Cluster, action, *, retry: bool, threads: int = 6, calls: int = 100):
    """Drive load through the LB (about 2 s of it); run `action()` once 100 calls are done. Returns
    (tally, access-log entries from 0.5 s after the action on, entries logged around it)."""
    tally = Tally()
    started = threading.Event()
    driver = threading.Thread(target=_drive, args=(cluster.lb_addr, threads, calls, tally),
                              kwargs=dict(progress=started, progress_at=100, retry=retry, pause=0.01),
                              daemon=True)
    driver.start()
    assert started.wait(120), "load did not get going"
    during = cluster.access_log.stat().st_size
    action()
    time.sleep(0.5)  # calls that were in flight on the replica as it went are logged by now
    after = cluster.access_log.stat().st_size
    driver.join(240)
    assert not driver.is_alive()
    assert not tally.wrong, tally.wrong[:5]
    return tally, cluster.access_entries(after), cluster.access_entries(during, after)


@pytest.mark.slow
def test_resident_training_loop_through_the_balancer(cluster: Cluster) -> None:
    """A session's calls go to one replica (its namespace is the affinity key); the loop ends where
    PyTorch's does. (Round robin, which holds none of the session's values on the next replica, is
    measured in test_affinity_keeps_by_hash_calls_on_the_replica_that_holds_them.)"""
    import torch

    import gradwire as gw
    from gradwire import session as gw_session

    with gw.connect(f"127.0.0.1:{cluster.lb_port}") as s:
        previous = gw_session._default
        gw_session.set_default_session(s)
        try:
            ours = _train(gw, 64, 8)
        finally:
            gw_session.set_default_session(previous)
    for a, b in zip(ours, _train(torch, 64, 8)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _train(lib, batch: int, steps: int):
    """The MLP training loop of the resident test, `steps` steps on `batch` rows."""
    rng = np.random.default_rng(3)
    X = lib.tensor(rng.standard_normal((batch, 32)).astype(np.float32))
    Y = lib.tensor(rng.integers(0, 4, batch))
    params = [lib.tensor((rng.standard_normal(s) * 0.3).astype(np.float32), requires_grad=True)
              for s in ((32, 64), (64,), (64, 4), (4,))]
    for _ in range(steps):
        W1, b1, W2, b2 = params
        loss = -(lib.log_softmax(lib.relu(X @ W1 + b1) @ W2 + b2, 1)[lib.arange(batch), Y]).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad.zero_()
    return [p.detach().numpy() for p in params]


def _misses(cluster: Cluster) -> dict[str, float]:
    """By-hash misses summed over the replicas: parts, resident values, and NOT_FOUND statuses."""
    texts = [r.metrics() for r in cluster.replicas]
    return {name: sum(_metric_sum(t, metric, **labels) for t in texts) for name, metric, labels in (
        ("part", "gradwire_part_cache_misses_total", {}), ("value", "gradwire_value_store_misses_total", {}),
        ("not_found", "grpc_server_handled_total", {"grpc_code": "NotFound"}),
        ("calls", "grpc_server_handled_total", {"grpc_method": ("Evaluate", "Gradient")}))}


@pytest.mark.slow
def test_affinity_keeps_by_hash_calls_on_the_replica_that_holds_them(cluster: Cluster) -> None:
    """The same training loop (3 sessions one after another, 12 steps each) through loadtest/nginx.conf
    (consistent hashing on the session's namespace) and through the same file with its `hash` line
    removed (round robin), against the same 3 replicas. Each run uses its own batch size, so its graphs
    are new to every replica, and new sessions, so its resident values are too."""
    import torch

    import gradwire as gw
    from gradwire import session as gw_session

    if any(r.metrics_port is None for r in cluster.replicas):
        pytest.skip("this server build has no --metrics-port")
    text = render_nginx_conf([r.port for r in cluster.replicas], _free_port(), cluster.workdir / "rr.log")
    rr_text, count = re.subn(r"^\s*hash\s+\$gradwire_affinity\s+consistent;\n", "", text, flags=re.M)
    assert count == 1
    rr_port = int(re.search(r"listen\s+127\.0\.0\.1:(\d+)", rr_text).group(1))
    rr = _start_nginx(_nginx_binary(), cluster.workdir / "round-robin", rr_text, rr_port)
    results = {}
    try:
        for label, port, batch in (("round robin", rr_port, 61), ("affinity", cluster.lb_port, 62)):
            before, start = _misses(cluster), time.monotonic()
            for _ in range(3):
                with gw.connect(f"127.0.0.1:{port}") as s:
                    previous = gw_session._default
                    gw_session.set_default_session(s)
                    try:
                        ours = _train(gw, batch, 12)
                    finally:
                        gw_session.set_default_session(previous)
            after = _misses(cluster)
            results[label] = {k: int(after[k] - before[k]) for k in after}
            results[label]["seconds"] = round(time.monotonic() - start, 2)
            for a, b in zip(ours, _train(torch, batch, 12)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    finally:
        _stop(rr, signal.SIGQUIT)
    print(f"\nby-hash misses over 3 sessions x 12 training steps, 3 replicas: {results}")
    rr_misses = results["round robin"]["part"] + results["round robin"]["value"]
    aff_misses = results["affinity"]["part"] + results["affinity"]["value"]
    assert results["round robin"]["not_found"] > 0, results
    assert results["affinity"]["not_found"] <= results["round robin"]["not_found"] / 4, results
    assert aff_misses <= rr_misses / 4, results


# Destructive: these stop replicas for good, so they run last.
@pytest.mark.slow
def test_balancer_routes_around_a_killed_replica(cluster: Cluster) -> None:
    """SIGKILL one replica under load. nginx streams gRPC request bodies unbuffered,
    so it cannot replay a call that was already sent to the dying replica: those
    (at most one per client) come back UNAVAILABLE (nginx's 502, turned into a
    gRPC status by loadtest/nginx.conf) and the client's gRPC retry policy sends
    them again. Every new call goes to a live replica."""
    victim = cluster.replicas[1]
    survivors = {r.addr for r in cluster.replicas if r.index not in cluster.killed and r is not victim}

    def kill() -> None:
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        cluster.killed.add(victim.index)

    threads = 6
    tally, after, around = _load_while(cluster, kill, retry=True, threads=threads)
    assert not tally.errors, f"{len(tally.errors)} calls failed despite retries: {tally.errors[:5]}"
    assert tally.ok == threads * 100

    assert after, "no calls after the kill"
    final = [e["upstreams"][-1] for e in after]
    assert victim.addr not in final, "a dead replica cannot have served"
    assert set(final) == survivors, set(final)
    assert all(e["http"] == 200 and e["grpc_status"] in ("0", "5") for e in after), \
        [e for e in after if e["grpc_status"] not in ("0", "5")][:5]
    passed_on = [e for e in after if victim.addr in e["upstreams"][:-1]]
    lost_in_flight = [e for e in around if e["upstream_status"] == "502"]
    assert all(e["upstreams"] == [victim.addr] for e in lost_in_flight), lost_in_flight
    assert len(lost_in_flight) <= threads, lost_in_flight
    print(f"\nSIGKILL: {len(lost_in_flight)} calls in flight on the victim got UNAVAILABLE and were retried by "
          f"the client; after the kill {len(after)} calls, all on {sorted(set(final))}; "
          f"{len(passed_on)} tried the dead replica first and nginx passed them on")


@pytest.mark.slow
def test_balancer_routes_around_a_draining_replica(cluster: Cluster) -> None:
    """SIGTERM (a rolling restart): the replica drains and exits 0, calls go to the
    others. A draining replica refuses new calls with UNAVAILABLE while it finishes the
    ones in flight, so clients with the gradwire client's retry policy lose none."""
    victim = next(r for r in cluster.replicas if r.index not in cluster.killed and r.index != 0)
    survivors = {r.addr for r in cluster.replicas if r.index not in cluster.killed and r is not victim}

    def drain() -> None:
        victim.proc.send_signal(signal.SIGTERM)
        cluster.killed.add(victim.index)

    threads = 6
    t0 = time.monotonic()
    tally, after, around = _load_while(cluster, drain, retry=True, threads=threads)
    assert victim.proc.wait(30) == 0, victim.log.read_text()[-2000:]
    print(f"\nSIGTERM: replica drained and exited 0 within {time.monotonic() - t0:.1f} s of the load start")
    refused = [e for e in around if e["http"] != 200 or e["grpc_status"] not in ("0", "5")]
    # UNAVAILABLE from the draining replica; CANCELLED for a call racing its transport shutdown; the LB's own
    # UNAVAILABLE (a 502 turned into grpc-status 14) once it is gone. The client retries each of them.
    assert all(e["upstreams"][-1] == victim.addr and
               (e["grpc_status"] in ("14", "1") or e["upstream_status"] == "502") for e in refused), \
        [(e["upstreams"], e["upstream_status"], e["http"], e["grpc_status"], victim.addr) for e in refused]
    assert not tally.errors, tally.errors
    assert tally.ok == threads * 100
    final = {e["upstreams"][-1] for e in after}
    assert final == survivors, final
    assert all(e["http"] == 200 and e["grpc_status"] in ("0", "5") for e in after)
    print(f"SIGTERM: {len(refused)} calls refused while draining (UNAVAILABLE or CANCELLED), all retried; "
          f"afterwards {len(after)} calls, all on {sorted(final)}")


@pytest.mark.slow
def test_no_replica_left_is_a_grpc_unavailable(cluster: Cluster) -> None:
    """With every replica gone, nginx answers with a real gRPC status (not an HTML 502)."""
    import grpc

    for r in cluster.replicas:
        _stop(r.proc)
        cluster.killed.add(r.index)
    ch, stub = _stub(cluster.lb_addr)
    try:
        with pytest.raises(grpc.RpcError) as info:
            stub.Evaluate(graphs.small_request(np.ones(graphs.SMALL_N, np.float32)), timeout=30)
    finally:
        ch.close()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
    assert "no gradwire replica answered" in info.value.details(), info.value.details()
