"""RPC plumbing written once: lenient decoding, compute slots, deadlines and error mapping."""
from __future__ import annotations

import threading
import uuid

import grpc
from google.protobuf.message import DecodeError

from gradwire.v1 import gradwire_pb2 as pb

from . import resident
from .errors import abort

SERVICE = pb.DESCRIPTOR.services_by_name["Autodiff"]


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


class Slots:
    """At most `n` computing calls at once; the next one is refused, never queued. While draining,
    every new computing call is refused with UNAVAILABLE (safe to retry elsewhere: every RPC is pure)."""

    def __init__(self, n: int):
        self.capacity = n
        self._free = threading.BoundedSemaphore(n)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.draining = False

    def acquire(self) -> bool:
        if not self._free.acquire(blocking=False):
            return False
        with self._lock:
            self.in_flight += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
        self._free.release()


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == "x-request-id":
            return value[:64]
    return uuid.uuid4().hex[:16]


def _behaviour(method, request_name: str, cheap: bool, slots: Slots):
    def run(request, context: grpc.ServicerContext, cancelled):
        token = resident.CALLER.set(resident.caller(context.invocation_metadata()))
        try:
            return method(request, cancelled)
        except Exception as exc:  # mapped to a status in one place; unexpected ones -> INTERNAL
            abort(context, exc, _request_id(context))
        finally:
            resident.CALLER.reset(token)

    def handle(request, context: grpc.ServicerContext):
        if isinstance(request, _Malformed):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"request is not a valid {request_name}: {request.error}")

        def cancelled() -> bool:
            return not context.is_active() or context.time_remaining() <= 0

        if cheap:
            return run(request, context, cancelled)
        if cancelled():
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before start")
        if slots.draining:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry (on another replica)")
        if not slots.acquire():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"the server is already running its maximum of {slots.capacity} "
                          f"concurrent requests; retry later")
        try:
            return run(request, context, cancelled)
        finally:
            slots.release()
    return handle


def autodiff_handler(service, slots: Slots) -> grpc.GenericRpcHandler:
    """A generic handler serving every method of gradwire.v1.Autodiff from `service`."""
    handlers = {}
    for m in SERVICE.methods:
        request_class = getattr(pb, m.input_type.name)
        handlers[m.name] = grpc.unary_unary_rpc_method_handler(
            _behaviour(getattr(service, m.name), m.input_type.name, m.name in service.CHEAP,
                       slots),
            request_deserializer=_lenient(request_class),
            response_serializer=lambda msg: msg.SerializeToString())
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)
