"""Bearer-token check for every call except health probes (load balancers carry no token)."""
from __future__ import annotations

import hmac

import grpc

EXEMPT_PREFIX = "/grpc.health.v1.Health/"


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as `handler` that ends the call UNAUTHENTICATED."""
    def refuse(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = continuation(details)
        if handler is None or details.method.startswith(EXEMPT_PREFIX):
            return handler
        given = dict(details.invocation_metadata).get("authorization")
        if given is None:
            return _refusal(handler, "missing `authorization: Bearer <token>` metadata")
        # Constant-time comparison: no timing hint about how much of the token matched.
        if not hmac.compare_digest(given.encode(), self._expected):
            return _refusal(handler, "invalid bearer token")
        return handler
