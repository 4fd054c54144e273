"""Worker processes sharing one port (SO_REUSEPORT) under a supervisor: restarts, drain, metrics.

As in gRPC's Python multiprocessing example, the port is reserved by a socket bound with
SO_REUSEPORT and each worker binds its own grpc server to it: the kernel spreads *connections*
over the workers' listening sockets (a channel, i.e. one HTTP/2 connection, stays on one worker).
Workers are spawned, never forked, because grpc's threads do not survive a fork.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from .config import ServerConfig

log = logging.getLogger("gradwire.service")
_SPAWN = multiprocessing.get_context("spawn")
_PR_SET_PDEATHSIG = 1


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket holding `host:port` for SO_REUSEPORT binders. A port someone else holds is an
    error (OSError), never a silently shared one: it is bound without SO_REUSEPORT first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, port))
        port = probe.getsockname()[1]
    held = socket.socket(family, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((host, port))
    return held


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker (a drain) when the supervisor dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass   # not Linux: the worker also polls its parent below


def _worker(config: ServerConfig, address: str, log_level: str, conn) -> None:
    """A worker process: one grpc server on the shared port; drains on SIGTERM/SIGINT."""
    from .memory import keep_freed_memory
    from .server import create_server, server_state, shutdown
    _die_with_parent()
    keep_freed_memory()
    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s %(levelname)s "
                        f"%(name)s[worker {os.getpid()}]: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C reaches the whole process group: the supervisor alone acts on it (it SIGTERMs us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        server, _ = create_server(address, config.replace(metrics_port=None), reuse_port=True)
    except (RuntimeError, OSError) as e:
        conn.send(("error", str(e)))
        raise SystemExit(1)
    metrics_port = None
    if config.metrics_port is not None:   # private, loopback: the supervisor aggregates
        metrics_port = server_state(server).metrics.serve("127.0.0.1", 0)
    conn.send(("ready", metrics_port))
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    shutdown(server)


@dataclass
class _Slot:
    """One worker position: the process in it now and how often it was restarted."""
    index: int
    process: multiprocessing.Process | None = None
    conn: object = None
    metrics_port: int | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = 0.5
    not_before: float = 0.0
    ready: bool = False


class Supervisor:
    """Starts `config.process_count` workers on `host:port`, restarts any that dies, drains all
    on stop() and serves their summed metrics."""

    def __init__(self, config: ServerConfig, host: str, port: int, log_level: str = "info"):
        self.config = config
        self._host = host
        self._reserved = reserve_port(host.strip("[]"), port)
        self.port = self._reserved.getsockname()[1]
        self._address = f"{host}:{self.port}"
        self._log_level = log_level
        self._slots = [_Slot(k) for k in range(config.process_count)]
        self._lock = threading.Lock()
        self._metrics_http = None
        self.metrics_port: int | None = None
        self.restarts = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 300.0) -> None:
        """Spawn every worker and wait until all are serving; raises RuntimeError if one fails."""
        for slot in self._slots:
            self._spawn(slot)
        end = time.monotonic() + timeout
        for slot in self._slots:
            self._await_ready(slot, end)
        if self.config.metrics_port is not None:
            registry = CollectorRegistry()
            registry.register(_Aggregate(self))
            self._metrics_http, _ = start_http_server(self.config.metrics_port,
                                                      addr=self._host.strip("[]"),
                                                      registry=registry)
            self.metrics_port = self._metrics_http.server_port

    def _spawn(self, slot: _Slot) -> None:
        reader, writer = _SPAWN.Pipe(duplex=False)
        config = self.config
        if config.pin_cores:
            cores = sorted(os.sched_getaffinity(0))
            config = config.replace(cpu=cores[slot.index % len(cores)])
        slot.process = _SPAWN.Process(target=_worker, name=f"gradwire-worker-{slot.index}",
                                      args=(config, self._address, self._log_level, writer))
        slot.process.start()
        writer.close()
        slot.conn, slot.ready, slot.metrics_port = reader, False, None
        slot.started = time.monotonic()

    def _await_ready(self, slot: _Slot, end: float) -> None:
        while not slot.conn.poll(0.1):
            if not slot.process.is_alive():
                raise RuntimeError(f"worker {slot.index} exited ({slot.process.exitcode}) "
                                   f"before it was ready")
            if time.monotonic() > end:
                raise RuntimeError(f"worker {slot.index} did not get ready in time")
        self._take_message(slot)

    def _take_message(self, slot: _Slot) -> None:
        kind, value = slot.conn.recv()
        if kind == "error":
            raise RuntimeError(value)
        slot.metrics_port, slot.ready = value, True

    def watch(self, stop: threading.Event) -> None:
        """Until `stop` is set: restart dead workers (with a growing pause if one keeps dying
        young) and collect the ready reports of restarted ones."""
        while not stop.wait(0.1):
            now = time.monotonic()
            for slot in self._slots:
                if slot.process.is_alive():
                    if not slot.ready and slot.conn.poll():
                        try:
                            self._take_message(slot)
                        except (RuntimeError, EOFError) as e:
                            log.error("worker %d failed to start: %s", slot.index, e)
                    continue
                if slot.not_before == 0.0:
                    young = now - slot.started < 10.0
                    slot.backoff = min(slot.backoff * 2, 30.0) if young else 0.5
                    slot.not_before = now + (slot.backoff if young else 0.0)
                    log.warning("worker %d (pid %s) exited with %s; restarting", slot.index,
                                slot.process.pid, slot.process.exitcode)
                if now >= slot.not_before:
                    slot.process.join(0)
                    slot.conn.close()
                    slot.not_before = 0.0
                    slot.restarts += 1
                    with self._lock:
                        self.restarts += 1
                    self._spawn(slot)

    def stop(self, grace: float | None = None) -> bool:
        """SIGTERM every worker (each drains: in-flight calls get `grace` seconds) and wait for
        them; True if all exited cleanly."""
        grace = self.config.grace if grace is None else grace
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive():
                os.kill(slot.process.pid, signal.SIGTERM)
        clean = True
        end = time.monotonic() + grace + 15.0
        for slot in self._slots:
            slot.process.join(max(end - time.monotonic(), 0.1))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
                clean = False
            clean = clean and slot.process.exitcode == 0
        self._reserved.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        return clean

    # -- what tests and metrics read -----------------------------------------------------------
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process is not None]

    def ready_pids(self) -> list[int]:
        return [s.process.pid for s in self._slots
                if s.process is not None and s.ready and s.process.is_alive()]

    def worker_metrics_ports(self) -> list[int]:
        return [s.metrics_port for s in self._slots if s.ready and s.metrics_port
                and s.process.is_alive()]


class _Aggregate:
    """The workers' metrics, summed sample by sample at scrape time (counters, histograms and
    gauges alike: in-flight calls, queue lengths and cache sizes add up across processes)."""

    def __init__(self, supervisor: Supervisor):
        self._supervisor = supervisor

    def collect(self):
        families: dict[str, Metric] = {}
        sums: dict[tuple, float] = {}
        order: dict[str, list] = {}
        for port in self._supervisor.worker_metrics_ports():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue   # a worker that just died: the others still report
            for family in text_string_to_metric_families(text):
                if family.name not in families:
                    families[family.name] = Metric(family.name, family.documentation,
                                                   family.type)
                    order[family.name] = []
                for s in family.samples:
                    if s.name.endswith("_created"):
                        continue   # a timestamp, not a quantity: no meaningful sum
                    key = (family.name, s.name, tuple(sorted(s.labels.items())))
                    if key not in sums:
                        order[family.name].append(key)
                        sums[key] = 0.0
                    sums[key] += s.value
        for name, metric in families.items():
            for key in order[name]:
                metric.add_sample(key[1], dict(key[2]), sums[key])
            yield metric
        workers = Metric("gradwire_workers", "Worker processes serving now.", "gauge")
        workers.add_sample("gradwire_workers", {}, len(self._supervisor.ready_pids()))
        yield workers
        restarts = Metric("gradwire_worker_restarts", "Worker processes restarted after dying.",
                          "counter")
        restarts.add_sample("gradwire_worker_restarts_total", {}, self._supervisor.restarts)
        yield restarts
