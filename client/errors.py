"""Client exceptions: one class per gRPC status, built from an RpcError in one place."""
from __future__ import annotations

import re

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


class _LinAlgError(InvalidArgument):
    """A factorization the server could not complete for these values (a singular matrix, one not
    positive-definite): PyTorch's torch.linalg.LinAlgError (torch._C._LinAlgError), with its message.
    `node` is the graph node that failed. Exported as gradwire.linalg.LinAlgError."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, node: int | None = None):
        super().__init__(message, code)
        self.node = node


LinAlgError = _LinAlgError
# "node 7 (linalg_inv): linalg.inv: The diagonal element 2 is zero, ...": a linalg kernel's data-dependent
# failure (the client checks shapes and dtypes before sending, so a linalg node failing on the server is one).
_LINALG = re.compile(r"^node (\d+) \(linalg_\w+\): (.*)$", re.S)

_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, ResourceExhausted, Unauthenticated, PermissionDenied,
    DeadlineExceeded, Cancelled, Unavailable, Unimplemented, FailedPrecondition, Internal)}


def from_rpc_error(error: grpc.RpcError) -> GradwireError:
    """The exception for a failed call: the subclass of its status, carrying code and details."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    cls = _BY_CODE.get(code, GradwireError)
    m = _LINALG.match(details) if cls is InvalidArgument else None
    if m:
        return LinAlgError(m.group(2), code, int(m.group(1)))
    return cls(f"{details} [{code.name}]" if cls is GradwireError else details, code)
