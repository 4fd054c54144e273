"""Prometheus metrics: go-grpc-prometheus style call metrics plus engine plan-cache and part-cache stats."""
from __future__ import annotations

import threading
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gradwire import engine

from .parts import PartCache
from .rpc import Slots

_CALL = ("grpc_type", "grpc_service", "grpc_method")
# Sub-millisecond calls are the gRPC floor here; heavy graphs run for seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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

    def __init__(self, parts: PartCache, slots: Slots):
        self._parts, self._slots = parts, slots

    def collect(self):
        stats = engine.plan_cache_stats()
        yield CounterMetricFamily("gradwire_plan_cache_hits", "Engine plan-cache hits.",
                                  value=stats["hits"])
        yield CounterMetricFamily("gradwire_plan_cache_misses", "Engine plan-cache misses.",
                                  value=stats["misses"])
        yield GaugeMetricFamily("gradwire_plan_cache_size", "Plans in the engine's cache.",
                                value=stats["size"])
        compile_seconds = GaugeMetricFamily(
            "gradwire_plan_compile_seconds", "Seconds spent compiling each cached plan.",
            labels=["graph_hash"])
        for graph_hash, seconds in stats["compile_seconds_by_hash"].items():
            compile_seconds.add_metric([graph_hash], seconds)
        yield compile_seconds
        yield CounterMetricFamily("gradwire_part_cache_hits", "Graph parts resolved by hash.",
                                  value=self._parts.hits)
        yield CounterMetricFamily("gradwire_part_cache_misses",
                                  "Graph part hashes not in the cache (NOT_FOUND).",
                                  value=self._parts.misses)
        yield GaugeMetricFamily("gradwire_part_cache_entries", "Parsed graph parts cached.",
                                value=len(self._parts))
        yield GaugeMetricFamily("gradwire_requests_in_flight", "Computing calls running now.",
                                value=self._slots.in_flight)


class Metrics(grpc.ServerInterceptor):
    """Times and counts every unary call (streams, i.e. health Watch and reflection, are not
    timed: their duration is the client's choice)."""

    def __init__(self, parts: PartCache, slots: Slots):
        self.registry = CollectorRegistry()
        self._started = Counter("grpc_server_started_total", "RPCs started on the server.",
                                _CALL, registry=self.registry)
        self._handled = Counter("grpc_server_handled_total",
                                "RPCs completed on the server, by status code.",
                                _CALL + ("grpc_code",), registry=self.registry)
        self._seconds = Histogram("grpc_server_handling_seconds",
                                  "Time from the start of an RPC to its status.",
                                  _CALL, buckets=_BUCKETS, registry=self.registry)
        self.registry.register(_ServerStats(parts, slots))
        self._http = None
        self._lock = threading.Lock()
        self.unary_in_flight = 0   # shutdown waits for these, not for open streams

    def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = continuation(details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        service, _, method = details.method.lstrip("/").partition("/")
        labels = ("unary", service, method)
        inner = handler.unary_unary

        def observed(request, context):
            self._started.labels(*labels).inc()
            start = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            with self._lock:
                self.unary_in_flight += 1
            try:
                response = inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except Exception:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                with self._lock:
                    self.unary_in_flight -= 1
                self._seconds.labels(*labels).observe(time.perf_counter() - start)
                self._handled.labels(*labels, code_label(code)).inc()

        return grpc.unary_unary_rpc_method_handler(
            observed, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks a free one)."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
