"""Client exceptions: one class per gRPC status, built from an RpcError in one place."""
from __future__ import annotations

import grpc


class GradwireError(RuntimeError):
    """A call to the server failed. `code` is the grpc.StatusCode, `message` the server's words.

    It is a RuntimeError because PyTorch raises RuntimeError for the same mistakes
    (shape mismatches, bad arguments), so `except RuntimeError` code keeps working.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(GradwireError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(GradwireError):
    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(GradwireError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(GradwireError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(GradwireError):
    code = grpc.StatusCode.PERMISSION_DENIED


class DeadlineExceeded(GradwireError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(GradwireError):
    code = grpc.StatusCode.CANCELLED


class Unavailable(GradwireError):
    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(GradwireError):
    code = grpc.StatusCode.UNIMPLEMENTED


class FailedPrecondition(GradwireError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Internal(GradwireError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, ResourceExhausted, Unauthenticated, PermissionDenied,
    DeadlineExceeded, Cancelled, Unavailable, Unimplemented, FailedPrecondition, Internal)}


def from_rpc_error(error: grpc.RpcError) -> GradwireError:
    """The exception for a failed call: the subclass of its status, carrying code and details."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    cls = _BY_CODE.get(code, GradwireError)
    return cls(f"{details} [{code.name}]" if cls is GradwireError else details, code)
