"""The one place where exceptions become gRPC statuses (with google.rpc.BadRequest details)."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gradwire.core.codec import CodecError
from gradwire.engine.errors import EngineError

log = logging.getLogger("gradwire.service")


class RequestError(Exception):
    """A request the service rejects before the engine sees it; names the offending field."""

    def __init__(self, code: grpc.StatusCode, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple


def classify(exc: BaseException) -> tuple[grpc.StatusCode, str, str | None]:
    """(status code, message, offending field or None) for an expected error; raises the rest."""
    if isinstance(exc, RequestError):
        return exc.code, str(exc), exc.field
    if isinstance(exc, EngineError):
        field = f"graph.nodes[{exc.node}]" if exc.node is not None else _request_field(exc.reason)
        return grpc.StatusCode[exc.code], str(exc), field
    if isinstance(exc, CodecError):
        # The codec's messages start with the location they were given ("inputs[x]: ...").
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), str(exc).split(":", 1)[0]
    raise exc


# The request field an engine error without a node is about (ids are checked by the service before the
# engine runs; these are the checks only the engine can make).
_FIELDS = ((re.compile(r"^input '(.*)' was fed"), lambda m: f"inputs[{m.group(1)}]"),
           (re.compile(r"^known value given for node"), lambda m: "known"),
           (re.compile(r"^\d+ seeds given"), lambda m: "seeds"),
           (re.compile(r"^\d+ tangents given|^tangent has shape"), lambda m: "tangents"),
           (re.compile(r"^unknown Jacobian mode"), lambda m: "mode"),
           (re.compile(r"^graph has \d+ nodes"), lambda m: "graph"))


def _request_field(reason: str) -> str:
    for pattern, field in _FIELDS:
        m = pattern.search(reason)
        if m:
            return field(m)
    return "graph"


def status_for(exc: BaseException, request_id: str) -> grpc.Status:
    """The status `exc` maps to. Anything unexpected is our bug: INTERNAL, logged here with its
    traceback, and the client gets only the request id."""
    try:
        code, message, field = classify(exc)
    except Exception:
        log.exception("internal error, request id %s", request_id)
        code, message, field = (grpc.StatusCode.INTERNAL,
                                f"internal server error (request id {request_id})", None)
    status = status_pb2.Status(code=code.value[0], message=message)
    if field is not None and code in (grpc.StatusCode.INVALID_ARGUMENT,
                                      grpc.StatusCode.UNIMPLEMENTED):
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        status.details.append(detail)
    grpc_status = rpc_status.to_status(status)
    return _Status(grpc_status.code, grpc_status.details,
                   tuple(grpc_status.trailing_metadata) + (("x-request-id", request_id),))
