"""Assembles the gRPC server: Autodiff, health, reflection, auth, metrics, TLS and limits."""
from __future__ import annotations

import logging
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import grpc
import threadpoolctl
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gradwire import engine

from . import unix as unix_socket
from .admission import Admission
from .auth import BearerTokenInterceptor
from .config import ServerConfig
from .metrics import Metrics
from .parts import PartCache
from .pool import HandlerThreads
from .store import ValueStore
from .rpc import SERVICE, autodiff_handlers
from .servicer import AutodiffService

log = logging.getLogger("gradwire.service")


@dataclass
class ServerState:
    """What create_server built besides the grpc.Server (tests and shutdown reach it here)."""
    config: ServerConfig
    health: health.HealthServicer
    metrics: Metrics
    admission: Admission
    parts: PartCache
    metrics_port: int | None
    unix: tuple[str, int] | None = None     # (socket path, its inode), removed on shutdown
    service: AutodiffService | None = None


_STATES: "weakref.WeakKeyDictionary[grpc.Server, ServerState]" = weakref.WeakKeyDictionary()


def server_state(server: grpc.Server) -> ServerState:
    return _STATES[server]


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]")


def pin(cpu: int) -> None:
    """Bind every thread of this process (those running now and, through inheritance, those started
    later) to core `cpu`."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), {cpu})
        except ProcessLookupError:     # a thread that just ended
            pass


def create_server(address: str | None = "127.0.0.1:0", config: ServerConfig | None = None,
                  reuse_port: bool = False, unix: str | None = None) -> tuple[grpc.Server, int | None]:
    """Bind `address` (HOST:PORT, or None for none) and the socket path `unix` (or None), start
    serving (health NOT_SERVING), warm the engine up, then report SERVING. Returns the started
    server and the bound TCP port (None without one)."""
    if address is not None and unix_socket.unix_path(address) is not None:
        address, unix = None, unix_socket.unix_path(address)
    if address is None and unix is None:
        raise ValueError("create_server needs an address, a unix socket path or both")
    config = config or ServerConfig()
    if config.cpu is not None:
        pin(config.cpu)
    if config.blas_threads is not None:
        threadpoolctl.threadpool_limits(config.blas_threads, user_api="blas")
    if config.engine_threads is not None or config.cpu is not None:
        engine.set_threads(config.engine_threads or 1)     # on one core, more threads only take turns
    parts = PartCache(config.part_cache_entries, config.part_cache_bytes)
    admission = Admission(config.max_concurrent, config.max_queue)
    store = ValueStore(config.value_store_bytes)
    metrics = Metrics(parts, admission, store)
    interceptors = [BearerTokenInterceptor(config.token)] if config.token else []
    server = grpc.server(
        HandlerThreads(config.thread_count),
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", config.max_message_bytes),
                 ("grpc.max_send_message_length", config.max_message_bytes),
                 # grpc's default SO_REUSEPORT lets a second server silently share a taken
                 # port (and its traffic); a taken port must be an error instead. Worker
                 # processes share theirs on purpose (supervisor.py checks it is free first).
                 ("grpc.so_reuseport", int(reuse_port))],
        # Every call gets a thread at once (waiting for a compute slot happens in admission,
        # deadline-aware); grpc's own refusal is a backstop past the queue and the reserve.
        maximum_concurrent_rpcs=config.thread_count)
    service = AutodiffService(config, parts, store)
    server.add_registered_method_handlers(SERVICE.full_name, autodiff_handlers(service, admission, metrics))

    checks = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    watched = ("", SERVICE.full_name)
    for name in watched:
        checks.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        (SERVICE.full_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    if config.tls_cert:
        credentials = grpc.ssl_server_credentials(
            [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())])
        add_port = lambda where: server.add_secure_port(where, credentials)  # noqa: E731
    else:
        add_port = server.add_insecure_port
    port = None
    if address is not None:
        port = add_port(address)
        if not port:
            raise RuntimeError(f"could not bind {address}")
    bound_unix = (unix, unix_socket.bind(add_port, unix)) if unix is not None else None
    server.start()
    metrics_port = None
    if config.metrics_port is not None:
        metrics_port = metrics.serve(_host(address) if address else "127.0.0.1", config.metrics_port)
    _STATES[server] = ServerState(config, checks, metrics, admission, parts, metrics_port, bound_unix,
                                  service)

    if config.warm_up:
        engine.warm_up()
    for name in watched:
        checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving on %s (tls=%s, auth=%s, metrics port=%s)",
             " and ".join(filter(None, [port and f"port {port}", unix and f"unix:{unix}"])),
             bool(config.tls_cert), bool(config.token), metrics_port)
    return server, port


def shutdown(server: grpc.Server, grace: float | None = None) -> None:
    """Drain: health NOT_SERVING, refuse new calls, give in-flight unary calls `grace` seconds
    (default: the config's) to finish, then close the metrics endpoint. Blocks until done.
    Open streams (health Watch, reflection) are cut once the unary calls are done: a load
    balancer's watch would otherwise hold every shutdown for the whole grace period."""
    state = _STATES.get(server)
    if state is None:
        server.stop(grace).wait()
        return
    state.health.enter_graceful_shutdown()
    grace = state.config.grace if grace is None else grace
    end = time.monotonic() + grace
    # Refuse new computing calls with UNAVAILABLE (clients retry those) while the transport is still up;
    # once grpc itself stops, a call racing the shutdown would come back CANCELLED, which no retry covers.
    state.admission.draining = True
    while (state.admission.in_flight or state.admission.queued) and time.monotonic() < end:
        time.sleep(0.01)
    stopped = server.stop(max(end - time.monotonic(), 0))
    while not stopped.wait(0.05):
        if state.metrics.unary_in_flight == 0 or time.monotonic() >= end:
            server.stop(0)
            break
    stopped.wait()
    state.metrics.close()
    if state.unix is not None:
        unix_socket.remove(*state.unix)
    if state.service is not None:
        state.service.shared.close()
