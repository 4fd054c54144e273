"""The gradwire-server command: flags (each also read from GRADWIRE_<FLAG>), ready line, drain on SIGTERM."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .config import ServerConfig
from .memory import keep_freed_memory
from .server import create_server, shutdown
from .supervisor import Supervisor

log = logging.getLogger("gradwire.service")

_D = ServerConfig()

# (flag, type, default, help). The env var is GRADWIRE_ + the flag upper-cased with _ for -.
FLAGS = [
    ("host", str, "127.0.0.1", "interface to listen on (0.0.0.0 or :: for all)"),
    ("port", int, None, "gRPC port; 0 picks a free one (see the ready line). Default 50051, "
                        "or with --unix no TCP port unless one is given"),
    ("unix", str, None, "also (or, without --port, only) listen on this unix socket path; the "
                        "socket file is made 0600 (only this user connects) and removed on exit"),
    ("processes", int, None, "worker processes sharing the port under a supervisor that "
                             "restarts them (default: the usable cores; 1: no supervisor)"),
    ("workers", int, None, "handler threads per process (default: max-concurrent + max-queue "
                           "+ 8, must exceed max-concurrent)"),
    ("max-concurrent", int, _D.max_concurrent, "computing requests at once, per process"),
    ("max-queue", int, _D.max_queue, "computing requests that may wait for a slot, per process; "
                                     "more are refused with RESOURCE_EXHAUSTED"),
    ("top-plans", int, _D.top_plans, "graphs listed with plan statistics in GetServerInfo"),
    ("max-message-bytes", int, _D.max_message_bytes, "gRPC message size cap, both directions"),
    ("max-request-bytes", int, _D.max_request_bytes,
     "request size once graph parts sent by hash are resolved"),
    ("max-nodes", int, _D.max_nodes, "nodes per graph"),
    ("max-tensor-elements", int, _D.max_tensor_elements, "elements per input or output tensor"),
    ("max-intermediate-elements", int, _D.max_intermediate_elements,
     "elements per intermediate value"),
    ("max-total-elements", int, _D.max_total_elements,
     "computed elements alive at once in one request (values are freed after their last use)"),
    ("jacobian-memory-bytes", int, _D.jacobian_memory_bytes,
     "working memory of one Jacobian/Hessian chunk"),
    ("part-cache-entries", int, _D.part_cache_entries, "graph parts kept for by-hash reuse"),
    ("part-cache-bytes", int, _D.part_cache_bytes, "bytes of graph parts kept"),
    ("value-store-bytes", int, _D.value_store_bytes, "bytes of resident values kept (all callers)"),
    ("shm-bytes", int, _D.shm_bytes, "shared memory with same-host clients: bytes of one-off result "
                                     "regions not yet mapped by their client, and of clients' reusable "
                                     "regions kept mapped, at most (0: off)"),
    ("metrics-port", int, 0, "Prometheus /metrics HTTP port on --host; 0 = off"),
    ("tls-cert", str, None, "PEM certificate chain (with --tls-key: serve TLS only)"),
    ("tls-key", str, None, "PEM private key"),
    ("token", str, None, "require `authorization: Bearer <token>` (prefer GRADWIRE_TOKEN: "
                         "argv is visible to other users)"),
    ("engine-threads", int, _D.engine_threads,
     "threads per fused elementwise group (0 = one per core); requests also run in parallel"),
    ("blas-threads", int, _D.blas_threads,
     "BLAS threads (requests already run in parallel, so 1 avoids oversubscribing the cores; "
     "0 leaves the BLAS library's default)"),
    ("log-level", str, "info", "debug, info, warning or error"),
    ("grace", float, _D.grace, "seconds in-flight requests get to finish on SIGTERM/SIGINT"),
]


def env_name(flag: str) -> str:
    return "GRADWIRE_" + flag.upper().replace("-", "_")


def parse_args(argv=None, environ=os.environ) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gradwire-server", description="Serve gradwire's autodiff engine over gRPC. "
        "Every flag can also be set through the environment variable GRADWIRE_<FLAG>.")
    for flag, kind, default, text in FLAGS:
        # argparse applies `type` to string defaults, so env values are converted too.
        parser.add_argument(f"--{flag}", type=kind, default=environ.get(env_name(flag), default),
                            help=f"{text} [env {env_name(flag)}; default {default}]")
    parser.add_argument("--no-warm-up", action="store_true",
                        default=environ.get(env_name("no-warm-up"), "") not in ("", "0"),
                        help="skip compiling the kernels at start (the first requests pay)")
    parser.add_argument("--pin-cores", action="store_true",
                        default=environ.get(env_name("pin-cores"), "") not in ("", "0"),
                        help="bind each worker process to one core (worker k to the k-th usable core): less "
                             "CPU per small call, but one process's heavy request gets one core "
                             f"[env {env_name('pin-cores')}]")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        max_concurrent=args.max_concurrent, max_queue=args.max_queue, workers=args.workers,
        processes=args.processes, top_plans=args.top_plans,
        max_message_bytes=args.max_message_bytes, max_request_bytes=args.max_request_bytes,
        max_nodes=args.max_nodes, max_tensor_elements=args.max_tensor_elements,
        max_intermediate_elements=args.max_intermediate_elements,
        max_total_elements=args.max_total_elements,
        jacobian_memory_bytes=args.jacobian_memory_bytes,
        part_cache_entries=args.part_cache_entries, part_cache_bytes=args.part_cache_bytes,
        value_store_bytes=args.value_store_bytes, shm_bytes=args.shm_bytes, metrics_port=args.metrics_port or None, tls_cert=args.tls_cert, tls_key=args.tls_key,
        token=args.token or None, grace=args.grace, warm_up=not args.no_warm_up,
        blas_threads=args.blas_threads or None, engine_threads=args.engine_threads or None,
        pin_cores=args.pin_cores)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from(args)
    except ValueError as e:
        print(f"gradwire-server: {e}", file=sys.stderr)
        return 2
    # Installed before warm-up, so a SIGTERM during start-up still drains cleanly.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host = f"[{args.host}]" if ":" in args.host else args.host
    if args.port is None and not args.unix:
        args.port = 50051
    if args.unix:
        # Worker processes share a TCP port through SO_REUSEPORT; a unix path has no such
        # sharing, so a unix listener is served by one process.
        if config.processes not in (None, 1):
            print("gradwire-server: --unix serves from one process: --processes must be 1",
                  file=sys.stderr)
            return 2
        config = config.replace(processes=1)
    if config.process_count > 1:
        return _supervise(config, host, args, stop)
    keep_freed_memory()
    if config.pin_cores:
        config = config.replace(cpu=min(os.sched_getaffinity(0)))
    try:
        server, port = create_server(None if args.port is None else f"{host}:{args.port}",
                                     config, unix=args.unix)
    except (RuntimeError, OSError) as e:   # port or socket path taken, unreadable TLS files
        print(f"gradwire-server: {e}", file=sys.stderr)
        return 1
    if port is not None:
        _ready(host, port)
    if args.unix:
        print(f"gradwire-server ready on unix:{args.unix}", flush=True)
    while not stop.wait(0.5):
        pass
    log.info("draining (grace %.1f s)", config.grace)
    shutdown(server)
    return 0


def _ready(host: str, port: int) -> None:
    # Tools parse exactly this line (a unix listener's comes after it: "ready on unix:PATH").
    print(f"gradwire-server ready on {host}:{port}", flush=True)


def _supervise(config: ServerConfig, host: str, args, stop: threading.Event) -> int:
    try:
        supervisor = Supervisor(config, host, args.port, args.log_level)
    except OSError as e:
        print(f"gradwire-server: could not bind {host}:{args.port}: {e}", file=sys.stderr)
        return 1
    try:
        supervisor.start()
    except RuntimeError as e:   # a worker could not start (unreadable TLS files, ...)
        print(f"gradwire-server: {e}", file=sys.stderr)
        supervisor.stop(0)
        return 1
    log.info("%d worker processes on port %d (metrics port %s)", config.process_count,
             supervisor.port, supervisor.metrics_port)
    _ready(host, supervisor.port)
    supervisor.watch(stop)
    log.info("draining %d workers (grace %.1f s)", config.process_count, config.grace)
    return 0 if supervisor.stop() else 1
