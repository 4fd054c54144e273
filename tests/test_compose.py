"""docker-compose.yml for real: images built, three replicas behind nginx, a replica killed under load.

`make test-compose` runs this (it is also part of `make test-slow`). The steps are the README's
"Deployment" section, in its order:

1. the base images: the official ones when Docker has them (GRADWIRE_COMPOSE_PULL=1: or can pull
   them), else local stand-ins (deploy/standin-images.sh) passed as GRADWIRE_PYTHON_IMAGE /
   GRADWIRE_NGINX_IMAGE;
2. `compose build`, then `compose up -d`, which returns once every replica's health check
   passes (the balancer depends on them being healthy);
3. the seed example and a locust burst through the balancer's published port;
4. a replica container killed (`docker kill`) and started again while clients using gradwire's retry
   policy run a training loop through the balancer: no call lost;
5. each replica's Prometheus metrics, scraped inside its container;
6. `compose down` (also when a step fails).

Compose v2 (`docker compose`) is used when present, else docker-compose 1.29. The balancer is
published on a free loopback port; all traffic stays on this machine.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = {"GRADWIRE_PYTHON_IMAGE": "python:3.11-slim-bookworm", "GRADWIRE_NGINX_IMAGE": "nginx:1.28-alpine"}
STANDIN = {"GRADWIRE_PYTHON_IMAGE": "gradwire-standin/python:3.11-bookworm",
           "GRADWIRE_NGINX_IMAGE": "gradwire-standin/nginx:bookworm"}
REPLICAS = ("gradwire-1", "gradwire-2", "gradwire-3")

# Building and starting the images is part of the first test's setup: more than the default 300 s.
pytestmark = [pytest.mark.slow, pytest.mark.compose, pytest.mark.timeout(1800)]


def _run(cmd, *, env=None, timeout=600, check=True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True, cwd=ROOT, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_images(env: dict) -> dict:
    """The official base images when Docker has them (with GRADWIRE_COMPOSE_PULL=1 it may pull them
    first), else the local stand-ins (built once, kept). Without that variable nothing is pulled: the
    test talks to no image registry."""
    pull = os.environ.get("GRADWIRE_COMPOSE_PULL") == "1"

    def usable(image: str) -> bool:
        return (_run(["docker", "image", "inspect", image], check=False).returncode == 0 or
                (pull and _run(["docker", "pull", image], check=False, timeout=300).returncode == 0))

    if all(usable(image) for image in OFFICIAL.values()):
        return dict(OFFICIAL)
    _run(["bash", "deploy/standin-images.sh"], env={**env, **STANDIN}, timeout=900)
    return dict(STANDIN)


class Deployment:
    def __init__(self, compose: list[str], project: str, env: dict, port: int):
        self.compose, self.project, self.env, self.port = compose, project, env, port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, *args, timeout=600, check=True) -> subprocess.CompletedProcess:
        return _run([*self.compose, "-p", self.project, *args], env=self.env, timeout=timeout, check=check)

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def health(self, service: str) -> str:
        cid = self.container(service)
        if not cid:
            return "missing"
        return _run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid], check=False).stdout.strip()

    def wait_healthy(self, service: str, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while (status := self.health(service)) != "healthy":
            assert time.monotonic() < deadline, f"{service} not healthy after {seconds} s: {status}"
            time.sleep(1)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    compose = _compose_command()
    if compose is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.skip(f"the Docker daemon cannot be reached: {info.stderr.strip()[:300]}")
    port = _free_port()
    env = dict(os.environ, GRADWIRE_LB_PORT=f"127.0.0.1:{port}")
    env.pop("GRADWIRE_TOKEN", None)
    env.update(_base_images(env))
    d = Deployment(compose, f"gradwiretest{os.getpid()}", env, port)
    logs = tmp_path_factory.mktemp("compose") / "compose.log"
    started = time.monotonic()
    try:
        d.run("build", timeout=1800)
        built = time.monotonic()
        d.run("up", "-d", timeout=900)
        for service in REPLICAS:
            d.wait_healthy(service)
        print(f"\ncompose: build {built - started:.0f} s, up until healthy {time.monotonic() - built:.0f} s "
              f"({compose[0]}, {env['GRADWIRE_PYTHON_IMAGE']}, {env['GRADWIRE_NGINX_IMAGE']})")
        yield d
    finally:
        logs.write_text(d.run("logs", "--no-color", check=False, timeout=120).stdout)
        d.run("down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=300)
        print(f"compose logs in {logs}; {time.monotonic() - started:.0f} s in all")


def _python(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return _run([sys.executable, *args], env=env, timeout=timeout)


def test_seed_example_through_the_balancer(deployment: Deployment) -> None:
    out = _python("examples/seeds_walkthrough.py", env={**os.environ, "GRADWIRE_TARGET": deployment.target}).stdout
    assert "y = tensor(28., grad_fn=<MulBackward0>)" in out
    assert "x.grad = tensor([ 0.,  4.,  8., 12.])" in out
    assert "Gradient of x1: 2.0" in out


def test_locust_burst_through_the_balancer(deployment: Deployment, tmp_path) -> None:
    # Only look: importing locust here would monkey-patch this process for gevent (threads become greenlets).
    if importlib.util.find_spec("locust") is None:
        pytest.skip("locust is in the `load` extra (make test-compose installs it)")
    r = _run([sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless", "-u", "10", "-r", "10",
              "-t", "15s", "--host", deployment.target, "--csv", str(tmp_path / "burst")],
             timeout=180, check=False)
    stats = (tmp_path / "burst_stats.csv").read_text()
    total = [line for line in stats.splitlines() if ",Aggregated," in line][0].split(",")
    print(f"\nlocust burst through the balancer: {total[2]} requests, {total[3]} failures")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert int(total[2]) > 100 and int(total[3]) == 0


def test_replica_killed_and_restarted_under_load_loses_no_call(deployment: Deployment) -> None:
    """Eight sessions (eight namespaces, so spread over the replicas by the balancer's hash) run a small
    training step in a loop while gradwire-2 is SIGKILLed and started again."""
    import gradwire as gw

    errors: list[str] = []
    done = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        w0 = rng.standard_normal((8, 3)).astype(np.float32)
        x = rng.standard_normal((16, 8)).astype(np.float32)
        with gw.connect(deployment.target, timeout=60) as s:
            while not stop.is_set():
                try:
                    w = s.tensor(w0, requires_grad=True)
                    loss = (s.tanh(s.tensor(x) @ w) ** 2).sum()
                    loss.backward()
                    want = ((1 - np.tanh(x @ w0) ** 2) * 2 * np.tanh(x @ w0))
                    np.testing.assert_allclose(w.grad.numpy(), x.T @ want, rtol=1e-4, atol=1e-5)
                    with lock:
                        done[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure is what this test counts
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 120
        while done[0] < 60:
            assert time.monotonic() < deadline and not errors, (done, errors[:3])
            time.sleep(0.2)
        victim = deployment.container("gradwire-2")
        _run(["docker", "kill", victim])
        at_kill = done[0]
        time.sleep(3)
        deployment.run("start", "gradwire-2")
        deployment.wait_healthy("gradwire-2")
        at_restart = done[0]
        time.sleep(5)
    finally:
        stop.set()
        for t in threads:
            t.join(90)
    print(f"\nkill/restart under load: {done[0]} calls ({at_kill} before the kill, {at_restart - at_kill} while "
          f"gradwire-2 was down or starting), {len(errors)} errors")
    assert not errors, errors[:5]
    assert at_restart > at_kill and done[0] > at_restart


def test_metrics_scrapeable_from_each_replica(deployment: Deployment) -> None:
    scrape = ("import urllib.request; "
              "print(urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=5).read().decode())")
    for service in REPLICAS:
        text = deployment.run("exec", "-T", service, "python", "-c", scrape, timeout=60).stdout
        handled = sum(float(m) for m in re.findall(r'^grpc_server_handled_total\{[^}]*grpc_code="OK"[^}]*\} (\S+)$',
                                                   text, re.M))
        assert "gradwire_part_cache_misses_total" in text and "gradwire_value_store_misses_total" in text
        print(f"{service}: {handled:.0f} calls answered OK")
        assert handled > 0, f"{service} answered no call"
