"""RPC plumbing written once: lenient decoding, admission, deadlines, metrics and error mapping.

One wrapper per method, built at start, does all of it inline (no interceptor: a grpc interceptor
re-wraps the handler on every call; no context manager or closure per call). The deadline is read once
per call. The computing methods' requests are parsed through the servicer's DecodedRequests, so a
request repeated byte for byte is parsed and decoded once."""
from __future__ import annotations

import functools
import time
import uuid

import grpc
from google.protobuf.message import DecodeError

from gradwire.v1 import gradwire_pb2 as pb

from . import resident
from .admission import Admission
from .errors import RequestError, status_for
from .metrics import MethodCalls, Metrics, code_label

SERVICE = pb.DESCRIPTOR.services_by_name["Autodiff"]
# grpc reports "no deadline" as a time ~292 years away.
_NO_DEADLINE = 1e9
_OK = code_label(grpc.StatusCode.OK)


class _Malformed:
    """Stands in for a request whose bytes did not parse. grpc turns a deserializer exception
    into INTERNAL; handing this to the handler lets it answer INVALID_ARGUMENT instead."""

    def __init__(self, error: Exception):
        self.error = error


def _lenient(message_class, memo=None):
    """The request deserializer; with `memo` (the servicer's DecodedRequests), repeated bytes give back the
    message parsed before."""
    parse = message_class.FromString if memo is None else functools.partial(memo.parse, message_class)

    def deserialize(data: bytes):
        try:
            return parse(data)
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
    """The bookkeeping around a streaming method: the caller's namespace, the in-flight count, latency and the
    final code; an exception leaves as its gRPC status."""

    def __init__(self, context, calls: MethodCalls):
        self.context, self.calls = context, calls

    def __enter__(self):
        self.calls.begin()
        self.start = time.perf_counter()
        self.caller = resident.CALLER.set(resident.caller(self.context.invocation_metadata()))
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
            self.calls.end(code, time.perf_counter() - self.start)
        return False


def _behaviour(method, name: str, request_name: str, cheap: bool, admission: Admission,
               metrics: Metrics):
    """A unary method's wrapper: the same bookkeeping as _Call, written out inline (this is the path
    every computing call takes, so no context manager and no per-call objects besides the _Cancel)."""
    calls = metrics.method(name)
    acquire, release, queue_wait = admission.acquire, admission.release, metrics.queue_wait.observe
    caller_of, caller_var = resident.caller, resident.CALLER
    clock = time.perf_counter

    def handle(request, context: grpc.ServicerContext):
        calls.begin()
        start = clock()
        token = caller_var.set(caller_of(context.invocation_metadata()))
        code = _OK
        try:
            if type(request) is _Malformed:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"request is not a valid {request_name}: {request.error}")
            cancel = _Cancel(context)
            if cheap:
                return method(request, cancel)
            if cancel():
                raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before start")
            waited = acquire(cancel.remaining(), cancel)
            if waited:
                queue_wait(waited)
            begun = clock()
            try:
                return method(request, cancel)
            finally:
                release(clock() - begun)
        except Exception as exc:
            status = status_for(exc, _request_id(context))
            code = code_label(status.code)
            context.abort_with_status(status)       # raises: the call ends with that status
        finally:
            caller_var.reset(token)
            calls.end(code, clock() - start)
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
    calls = metrics.method(name, "client_stream" if client_streaming else "server_stream")

    def handle(request, context: grpc.ServicerContext):
        with _Call(context, calls):
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


def autodiff_handlers(service, admission: Admission, metrics: Metrics) -> dict[str, grpc.RpcMethodHandler]:
    """Method name -> handler for every method of gradwire.v1.Autodiff, served from `service`. Register
    them with server.add_registered_method_handlers: grpc then finds a call's handler by the method the
    transport already matched, instead of asking each generic handler in turn on its one serving thread."""
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
        cheap = m.name in service.CHEAP
        handlers[m.name] = grpc.unary_unary_rpc_method_handler(
            _behaviour(getattr(service, m.name), m.name, m.input_type.name, cheap, admission, metrics),
            request_deserializer=_lenient(request_class, None if cheap else service.decoded),
            response_serializer=serialize)
    return handlers


def autodiff_handler(service, admission: Admission, metrics: Metrics) -> grpc.GenericRpcHandler:
    """The same handlers as one generic handler (for a server built elsewhere)."""
    return grpc.method_handlers_generic_handler(SERVICE.full_name, autodiff_handlers(service, admission, metrics))
