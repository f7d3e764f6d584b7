"""Who may call: TLS / mutual-TLS server credentials from certificate files, and the bearer-token check."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
"""Health checks need no token: load balancers and orchestrators probe without one."""


class ConfigError(ValueError):
    """A security option that cannot be used (a missing or empty file, a key without a certificate)."""


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the {what} {path}: {error.strerror or type(error).__name__}") from None
    if not data.strip():
        raise ConfigError(f"the {what} {path} is empty")
    return data


def load_token(path: Path) -> bytes:
    """The bearer token in a file (surrounding whitespace removed); raises ConfigError when missing or empty."""
    return _read(path, "token file").strip()


def server_credentials(cert: Path, key: Path, client_ca: Path | None = None) -> grpc.ServerCredentials:
    """TLS credentials from PEM files; with `client_ca`, mutual TLS: clients must present a certificate it signed."""
    chain = _read(cert, "TLS certificate")
    private_key = _read(key, "TLS key")
    root = _read(client_ca, "client CA certificate") if client_ca is not None else None
    return grpc.ssl_server_credentials([(private_key, chain)], root_certificates=root,
                                       require_client_auth=root is not None)


def _bearer(metadata: tuple[Any, ...] | None) -> bytes | None:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip().encode("latin-1", errors="replace")
            return None
    return None


def _deny(message: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return handler


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Every call but health checks needs `authorization: Bearer <token>`; else UNAUTHENTICATED.

    Tokens are compared in constant time (`hmac.compare_digest`).
    """

    def __init__(self, token: bytes, on_denied: Callable[[], None] | None = None) -> None:
        if not token:
            raise ConfigError("the bearer token is empty")
        self._token = token
        self._on_denied = on_denied

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return continuation(handler_call_details)
        given = _bearer(handler_call_details.invocation_metadata)
        if given is not None and hmac.compare_digest(given, self._token):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if self._on_denied is not None:
            self._on_denied()
        message = "missing bearer token (metadata 'authorization: Bearer <token>')" if given is None \
            else "invalid bearer token"
        deny = _deny(message)
        # Keep the method's kind (unary or streaming) so the status reaches the client the usual way.
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(deny, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(deny, handler.request_deserializer,
                                                        handler.response_serializer)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(deny, handler.request_deserializer,
                                                        handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(deny, handler.request_deserializer,
                                                     handler.response_serializer)
