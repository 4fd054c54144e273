"""RPC plumbing written once: lenient decoding, admission, deadlines, metrics and error mapping.

One wrapper per method, built at start, does all of it inline (no interceptor: a grpc interceptor
re-wraps the handler on every call). The deadline is read once per call."""
from __future__ import annotations

import time
import uuid

import grpc
from google.protobuf.message import DecodeError

from gradwire.v1 import gradwire_pb2 as pb

from . import resident
from .admission import Admission
from .errors import RequestError, status_for
from .metrics import Metrics, code_label

SERVICE = pb.DESCRIPTOR.services_by_name["Autodiff"]
# grpc reports "no deadline" as a time ~292 years away.
_NO_DEADLINE = 1e9
_OK = code_label(grpc.StatusCode.OK)


class _Malformed:
    """Stands in for a request whose bytes did not parse. grpc turns a deserializer exception
    into INTERNAL; handing this to the handler lets it answer INVALID_ARGUMENT instead."""

    def __init__(self, error: Exception):
        self.error = error


def _lenient(message_class):
    def deserialize(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError as e:
            return _Malformed(e)
    return deserialize


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == "x-request-id":
            return value[:64]
    return uuid.uuid4().hex[:16]


class _Cancel:
    """cancel() for the engine: the deadline (read once) passed, or the call ended (the client
    cancelled). Polled rarely (every 64 plan steps), so the locked is_active() is asked last."""
    __slots__ = ("deadline", "_context")

    def __init__(self, context: grpc.ServicerContext):
        remaining = context.time_remaining()
        self.deadline = None if remaining > _NO_DEADLINE else time.monotonic() + remaining
        self._context = context

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def __call__(self) -> bool:
        return (self.deadline is not None and time.monotonic() > self.deadline) or \
            not self._context.is_active()


class _Call:
    """The bookkeeping around every method, unary or streaming: the caller's namespace, the in-flight count,
    latency and the final code; an exception leaves as its gRPC status, mapped in one place (unexpected ones
    become INTERNAL)."""

    def __init__(self, context, metrics: Metrics, started, seconds, handled):
        self.context, self.metrics, self.seconds, self.handled = context, metrics, seconds, handled
        started.inc()

    def __enter__(self):
        self.start = time.perf_counter()
        self.caller = resident.CALLER.set(resident.caller(self.context.invocation_metadata()))
        with self.metrics._lock:
            self.metrics.unary_in_flight += 1
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        code = _OK
        try:
            if isinstance(exc, Exception):
                status = status_for(exc, _request_id(self.context))
                code = code_label(status.code)
                self.context.abort_with_status(status)      # raises: the call ends with that status
        finally:
            resident.CALLER.reset(self.caller)
            with self.metrics._lock:
                self.metrics.unary_in_flight -= 1
            self.seconds.observe(time.perf_counter() - self.start)
            self.handled(code).inc()
        return False


def _behaviour(method, name: str, request_name: str, cheap: bool, admission: Admission,
               metrics: Metrics):
    started, seconds, handled = metrics.method(name)

    def compute(request, cancel: _Cancel):
        if cancel():
            raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before start")
        waited = admission.acquire(cancel.remaining(), cancel)
        if waited:
            metrics.queue_wait.observe(waited)
        begun = time.perf_counter()
        try:
            return method(request, cancel)
        finally:
            admission.release(time.perf_counter() - begun)

    def handle(request, context: grpc.ServicerContext):
        with _Call(context, metrics, started, seconds, handled):
            if isinstance(request, _Malformed):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"request is not a valid {request_name}: {request.error}")
            cancel = _Cancel(context)
            return method(request, cancel) if cheap else compute(request, cancel)
    return handle


def _checked(chunks, request_name: str):
    """A client stream's messages, refusing one whose bytes did not parse (INVALID_ARGUMENT)."""
    try:
        for k, chunk in enumerate(chunks):
            if isinstance(chunk, _Malformed):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"message {k} of the stream is not a valid {request_name}: {chunk.error}")
            yield chunk
    except grpc.RpcError:
        # The call already ended (the client cancelled, or grpc refused a chunk past the message cap and
        # told the client so): nothing to answer, and no bug of ours to log.
        raise RequestError(grpc.StatusCode.CANCELLED, "the client's stream ended early") from None


def _stream_behaviour(method, name: str, request_name: str, client_streaming: bool, metrics: Metrics):
    """The streaming methods (PutValue, GetValue): the same caller, error mapping and metrics as
    _behaviour, without a compute slot; a response stream's errors surface while it is sent."""
    started, seconds, handled = metrics.method(name, "client_stream" if client_streaming else "server_stream")

    def handle(request, context: grpc.ServicerContext):
        with _Call(context, metrics, started, seconds, handled):
            if client_streaming:
                request = _checked(request, request_name)
            elif isinstance(request, _Malformed):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"request is not a valid {request_name}: {request.error}")
            result = method(request, _Cancel(context))
            if client_streaming:
                return result
            yield from result

    # One generator serves both shapes: a client-streaming method's response is its return value.
    return _unary_result(handle) if client_streaming else handle


def _unary_result(handle):
    """The generator-shaped `handle` as a stream-unary behaviour that returns the one response."""
    def run(request_iterator, context):
        gen = handle(request_iterator, context)
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        raise AssertionError("a client-streaming method yields nothing")
    return run


def autodiff_handler(service, admission: Admission, metrics: Metrics) -> grpc.GenericRpcHandler:
    """A generic handler serving every method of gradwire.v1.Autodiff from `service`."""
    handlers = {}
    for m in SERVICE.methods:
        request_class = getattr(pb, m.input_type.name)
        serialize = lambda msg: msg.SerializeToString()  # noqa: E731
        if m.client_streaming or m.server_streaming:
            behaviour = _stream_behaviour(getattr(service, m.name), m.name, m.input_type.name,
                                          m.client_streaming, metrics)
            make = (grpc.stream_unary_rpc_method_handler if m.client_streaming
                    else grpc.unary_stream_rpc_method_handler)
            handlers[m.name] = make(behaviour, request_deserializer=_lenient(request_class),
                                    response_serializer=serialize)
            continue
        handlers[m.name] = grpc.unary_unary_rpc_method_handler(
            _behaviour(getattr(service, m.name), m.name, m.input_type.name,
                       m.name in service.CHEAP, admission, metrics),
            request_deserializer=_lenient(request_class),
            response_serializer=serialize)
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
