"""Server settings: one dataclass holding every knob, with the defaults the CLI documents."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class ServerConfig:
    # Computing RPCs running at once (per worker process); more wait in the admission queue.
    max_concurrent: int = 16
    # Computing RPCs that may wait for a slot; one more is refused with RESOURCE_EXHAUSTED.
    max_queue: int = 128
    # Handler threads. A waiting call holds one (grpc's sync server), so the default covers the
    # slots, the queue and a reserve that answers health checks, ListOps and GetServerInfo while
    # every slot is busy: max_concurrent + max_queue + 8.
    workers: int | None = None
    # Worker processes sharing the port (SO_REUSEPORT) under a supervisor; None: the usable cores.
    # 1 serves from the calling process itself, without a supervisor.
    processes: int | None = None
    # Graphs listed with their plan statistics in GetServerInfo.
    top_plans: int = 10
    # gRPC message size cap, both directions.
    max_message_bytes: int = 64 * MiB
    # Size of a request once graph parts sent by hash are resolved (hash parts make the
    # effective request larger than the message).
    max_request_bytes: int = 256 * MiB
    # Engine limits (gradwire.engine.Limits), above the engine's own defaults: tensors this large do not
    # travel in one message (they stream, or go through shared memory), so the message cap is no bound on
    # them. One tensor up to 1 GiB of float32; computed values alive at once up to 4 GiB of float32.
    max_nodes: int = 100_000
    max_tensor_elements: int = 2**28
    max_intermediate_elements: int = 2**28
    max_total_elements: int = 2**30
    jacobian_memory_bytes: int = 256 * MiB
    # Cache of parsed graph parts, addressed by content hash.
    part_cache_entries: int = 4096
    part_cache_bytes: int = 256 * MiB
    # Resident values (Options.resident): tensors kept per caller for later requests, least recently used out.
    # A tensor past the message cap travels by the store (PutValue, or a result answered by handle), so
    # this bounds the largest such tensor: 4 GiB holds a 1 GiB tensor and its gradient with room to spare.
    value_store_bytes: int = 4096 * MiB
    # Shared memory with same-host clients (OpenSharedMemory): bytes of one-off result regions written and not
    # yet mapped by their client, at most (past it results travel as bytes or handles), and bytes of clients'
    # reusable regions kept mapped (least recently used out). 0 turns shared memory off.
    shm_bytes: int = 1024 * MiB
    # Prometheus HTTP endpoint: None is off, 0 picks a free port (tests), N listens on N.
    metrics_port: int | None = None
    # PEM files; both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    # Bearer token required in `authorization` metadata; None: no auth.
    token: str | None = None
    # Seconds in-flight requests get to finish on shutdown.
    grace: float = 10.0
    # Compile the engine's kernels before reporting SERVING.
    warm_up: bool = True
    # BLAS threads per call (process-wide). The server parallelises across requests with its
    # handler threads; multi-threaded BLAS inside each request oversubscribes the cores
    # (measured: 8x slower under load). None leaves the BLAS library's default.
    blas_threads: int | None = 1
    # Threads one fused elementwise group may use (None: one per core, the engine's default).
    # Requests already run in parallel, so a busy server may prefer 1.
    engine_threads: int | None = None
    # Bind each worker process to one core (worker k to the k-th usable core; one process: the first).
    # With the GIL a worker runs Python on one core at a time anyway, and its threads handing the GIL
    # to each other on one core skip the cross-core wake-ups: measured, ~10-20% less server CPU per
    # small call (README). The cost: one process's BLAS and block threads get that core only, so a lone heavy
    # request cannot use the others. Off by default.
    pin_cores: bool = False
    # The core this process is bound to (set from pin_cores by the command and the supervisor).
    cpu: int | None = None

    def __post_init__(self) -> None:
        for field in ("max_concurrent", "max_queue", "max_message_bytes", "max_request_bytes",
                      "max_nodes", "max_tensor_elements", "max_intermediate_elements", "max_total_elements",
                      "jacobian_memory_bytes", "part_cache_entries", "part_cache_bytes", "value_store_bytes"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.workers is not None and self.workers <= self.max_concurrent:
            raise ValueError(f"workers ({self.workers}) must exceed max_concurrent "
                             f"({self.max_concurrent}) so cheap calls are never starved")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise ValueError("blas_threads must be >= 1")
        if self.engine_threads is not None and self.engine_threads < 1:
            raise ValueError("engine_threads must be >= 1")
        if self.processes is not None and self.processes < 1:
            raise ValueError("processes must be >= 1")
        if self.shm_bytes < 0:
            raise ValueError("shm_bytes must be >= 0")
        if self.top_plans < 0:
            raise ValueError("top_plans must be >= 0")
        if self.grace < 0:
            raise ValueError("grace must be >= 0")

    @property
    def thread_count(self) -> int:
        if self.workers is not None:
            return self.workers
        return self.max_concurrent + self.max_queue + 8

    @property
    def process_count(self) -> int:
        return self.processes if self.processes is not None else len(os.sched_getaffinity(0))

    def replace(self, **changes) -> "ServerConfig":
        return dataclasses.replace(self, **changes)
