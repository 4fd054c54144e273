"""Prometheus metrics, all with bounded label sets: go-grpc-prometheus style call metrics, admission
(queue length, wait time, refusals), plan compile times as a histogram, plan and part cache stats, the
compiled tier's plans, the resident value store."""
from __future__ import annotations

import bisect
import collections
import threading

import grpc
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from gradwire import engine

from .admission import Admission
from .parts import PartCache
from .store import ValueStore

SERVICE_NAME = "gradwire.v1.Autodiff"
# Sub-millisecond calls are the gRPC floor here; heavy graphs run for seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_COMPILE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                    10, 30, 60)


def code_label(code: grpc.StatusCode) -> str:
    """The code as Go's codes.Code.String() spells it ("InvalidArgument"), as dashboards
    built for go-grpc-prometheus expect."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(word.capitalize() for word in code.name.split("_"))


class _ServerStats:
    """Read at scrape time, so the numbers are never stale and cost nothing between scrapes."""

    def __init__(self, parts: PartCache, admission: Admission, store: ValueStore | None):
        self._parts, self._admission, self._store = parts, admission, store

    def collect(self):
        stats = engine.plan_cache_stats()
        yield CounterMetricFamily("gradwire_plan_cache_hits", "Engine plan-cache hits.",
                                  value=stats["hits"])
        yield CounterMetricFamily("gradwire_plan_cache_misses", "Engine plan-cache misses.",
                                  value=stats["misses"])
        yield GaugeMetricFamily("gradwire_plan_cache_size", "Plans in the engine's cache.",
                                value=stats["size"])
        tiers = GaugeMetricFamily("gradwire_compiled_plans",
                                  "Plans the compiled tier worked on (the most recent ones), by state.",
                                  labels=["state"])
        states = collections.Counter(v["state"] for v in stats["compiled"].values())
        for state in ("queued", "compiled", "interpreted", "failed"):
            tiers.add_metric([state], states[state])
        yield tiers
        yield GaugeMetricFamily("gradwire_compiled_plan_seconds",
                                "Background seconds spent compiling those plans.",
                                value=sum(v.get("seconds") or 0.0 for v in stats["compiled"].values()))
        yield CounterMetricFamily("gradwire_part_cache_hits", "Graph parts resolved by hash.",
                                  value=self._parts.hits)
        yield CounterMetricFamily("gradwire_part_cache_misses",
                                  "Graph part hashes not in the cache (NOT_FOUND).",
                                  value=self._parts.misses)
        yield GaugeMetricFamily("gradwire_part_cache_entries", "Parsed graph parts cached.",
                                value=len(self._parts))
        a = self._admission
        if self._store is not None:
            st = self._store
            yield GaugeMetricFamily("gradwire_value_store_bytes", "Bytes of resident values kept.", value=st.bytes)
            yield GaugeMetricFamily("gradwire_value_store_entries", "Resident values kept.", value=len(st))
            yield CounterMetricFamily("gradwire_value_store_hits", "Handles resolved to a resident value.",
                                      value=st.hits)
            yield CounterMetricFamily("gradwire_value_store_misses",
                                      "Handles this server did not hold (answered NOT_FOUND).", value=st.misses)
            yield CounterMetricFamily("gradwire_value_store_evictions",
                                      "Resident values dropped to stay under --value-store-bytes.",
                                      value=st.evictions)
            yield CounterMetricFamily("gradwire_value_store_releases",
                                      "Resident values dropped because their caller released them (Options.release).",
                                      value=st.releases)
        yield GaugeMetricFamily("gradwire_requests_in_flight", "Computing calls holding a slot.",
                                value=a.in_flight)
        yield GaugeMetricFamily("gradwire_queue_length", "Computing calls waiting for a slot.",
                                value=a.queued)
        refused = CounterMetricFamily("gradwire_admission_refused",
                                      "Calls refused with RESOURCE_EXHAUSTED by admission.",
                                      labels=["reason"])
        for reason, count in a.refused.items():
            refused.add_metric([reason], count)
        yield refused


class MethodCalls:
    """One method's call metrics as plain numbers under one lock: what a call records costs two lock
    round trips (begin, end) instead of a prometheus_client child per figure, each with a lock of its
    own and a Python loop over the histogram's buckets. Exported at scrape time (_CallStats)."""
    __slots__ = ("labels", "started", "in_flight", "handled", "buckets", "sum", "_lock", "_all")

    def __init__(self, labels: tuple, lock: threading.Lock, everything: "Metrics"):
        self.labels = labels
        self.started = 0
        self.in_flight = 0
        self.handled: dict[str, int] = {}     # code label -> calls
        self.buckets = [0] * (len(_BUCKETS) + 1)   # non-cumulative; the last one is +Inf
        self.sum = 0.0
        self._lock = lock
        self._all = everything

    def begin(self) -> None:
        with self._lock:
            self.started += 1
            self.in_flight += 1
            self._all.unary_in_flight += 1

    def end(self, code: str, seconds: float) -> None:
        bucket = bisect.bisect_left(_BUCKETS, seconds)    # le: a value on a bound falls in that bucket
        with self._lock:
            self.in_flight -= 1
            self._all.unary_in_flight -= 1
            self.handled[code] = self.handled.get(code, 0) + 1
            self.buckets[bucket] += 1
            self.sum += seconds


class _CallStats:
    """go-grpc-prometheus's server metrics, read from every method's MethodCalls at scrape time."""

    def __init__(self, methods: list[MethodCalls], lock: threading.Lock):
        self._methods, self._lock = methods, lock

    def collect(self):
        names = ("grpc_type", "grpc_service", "grpc_method")
        started = CounterMetricFamily("grpc_server_started", "RPCs started on the server.", labels=names)
        handled = CounterMetricFamily("grpc_server_handled", "RPCs completed on the server, by status code.",
                                      labels=names + ("grpc_code",))
        seconds = HistogramMetricFamily("grpc_server_handling_seconds",
                                        "Time from the start of an RPC to its status.", labels=names)
        with self._lock:
            rows = [(m.labels, m.started, dict(m.handled), list(m.buckets), m.sum) for m in self._methods]
        bounds = [str(float(b)) for b in _BUCKETS] + ["+Inf"]
        for labels, begun, codes, buckets, total in rows:
            started.add_metric(labels, begun)
            for code, n in codes.items():
                handled.add_metric(labels + (code,), n)
            cumulative, acc = [], 0
            for bound, n in zip(bounds, buckets):
                acc += n
                cumulative.append((bound, acc))
            seconds.add_metric(labels, cumulative, total)
        yield started
        yield handled
        yield seconds


class Metrics:
    """The server's registry. Calls are recorded by the RPC wrapper (rpc.py) through one MethodCalls per
    method, bound once at start: no interceptor and no label lookups per call."""

    def __init__(self, parts: PartCache, admission: Admission, store: ValueStore | None = None):
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._methods: list[MethodCalls] = []
        self.registry.register(_CallStats(self._methods, self._lock))
        self.queue_wait = Histogram("gradwire_queue_wait_seconds",
                                    "Time computing calls waited in the admission queue.",
                                    buckets=_BUCKETS, registry=self.registry)
        compile_seconds = Histogram("gradwire_plan_compile_seconds",
                                    "Seconds to build one plan (validation, transforms, compile).",
                                    buckets=_COMPILE_BUCKETS, registry=self.registry)
        self._unhook = engine.on_plan_compile(compile_seconds.observe)
        self.registry.register(_ServerStats(parts, admission, store))
        self._http = None
        self.unary_in_flight = 0   # calls of every method in progress: shutdown waits for these

    def method(self, name: str, grpc_type: str = "unary") -> MethodCalls:
        """The call metrics of one method (grpc_type as go-grpc-prometheus spells it: unary,
        client_stream, server_stream)."""
        calls = MethodCalls((grpc_type, SERVICE_NAME, name), self._lock, self)
        with self._lock:
            self._methods.append(calls)
        return calls

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks a free one)."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        self._unhook()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
