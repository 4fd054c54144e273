"""Engine errors: each carries the status-code name the service maps it to (the engine knows no gRPC)."""
from __future__ import annotations


class EngineError(Exception):
    """Base class. `code` is a gRPC status-code name; `node`/`op` locate the problem."""

    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, node: int | None = None, op: str | None = None):
        self.reason = message
        self.node = node
        self.op = op
        where = ""
        if node is not None:
            where = f"node {node}" + (f" ({op})" if op else "") + ": "
        super().__init__(where + message)


class GraphError(EngineError):
    """The graph or its inputs are malformed: INVALID_ARGUMENT."""


class UnknownOpError(EngineError):
    """An op name the table does not hold: UNIMPLEMENTED."""

    code = "UNIMPLEMENTED"


class LimitError(EngineError):
    """A size limit would be exceeded: RESOURCE_EXHAUSTED."""

    code = "RESOURCE_EXHAUSTED"


class Cancelled(EngineError):
    """The caller gave up (deadline passed or call cancelled) while the plan ran."""

    code = "DEADLINE_EXCEEDED"
