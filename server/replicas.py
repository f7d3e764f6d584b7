"""Service replicas behind gRPC's own client-side load balancing: the service config and a channel to use it.

The service is stateless, so any replica answers any call. A client given several addresses (a multi-address
`ipv4:` target, or a DNS name with several A records such as a Kubernetes headless Service) spreads calls
over them with `round_robin`, asks each replica's `grpc.health.v1` service so that a draining one
(NOT_SERVING) is skipped, and retries a call that failed with UNAVAILABLE (a replica gone mid-call, or
refusing while it drains) or RESOURCE_EXHAUSTED (its solve slots busy) on another replica. Every RPC of
the service is idempotent: each call carries the whole cohort and changes nothing on the server, so a call
repeated gives the same answer (docs/service.md, "Replicas").

gRPC's retryPolicy does not read the `RetryInfo` the service sends with a refusal (busy, draining), and
gives up after at most 5 attempts within about a second: when every replica left is busy, that is too soon.
`server.client.MentormatchClient` adds a loop that waits the delay each `RetryInfo` asks for, within the
call's deadline; a client given several addresses uses this module's service config by itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc

from mentormatch.v1 import matching_pb2, shortlist_pb2, speeddating_pb2, sweep_pb2

HEALTH_SERVICE = matching_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name
"""The name client-side health checks ask about: NOT_SERVING while a replica drains."""
IDEMPOTENT_SERVICES: tuple[str, ...] = tuple(
    service.full_name for module in (matching_pb2, sweep_pb2, speeddating_pb2, shortlist_pb2)
    for service in module.DESCRIPTOR.services_by_name.values())
"""Every method of these services may be retried: none changes state, the same request gives the same answer."""
RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
MAX_ATTEMPTS = 4  # gRPC caps it at 5; one replica gone and one busy still leave an attempt


def service_config(health_service: str = HEALTH_SERVICE, *, max_attempts: int = MAX_ATTEMPTS) -> dict[str, Any]:
    """The gRPC service config: round_robin over every address, health-checked, idempotent calls retried."""
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": health_service},
        "methodConfig": [{
            "name": [{"service": name} for name in IDEMPOTENT_SERVICES],
            "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": "0.1s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": list(RETRYABLE_CODES)},
        }],
    }


def single_server_config(*, max_attempts: int = MAX_ATTEMPTS) -> dict[str, Any]:
    """The service config for one server (one address, or a proxy or virtual IP in front of several): gRPC
    retries a call that failed UNAVAILABLE without reaching the service (the connection broke, or a draining
    server refused it: through a proxy the retry gets another connection). The service's own refusals, which
    carry a RetryInfo, are left to `server.client.MentormatchClient`'s loop: it waits the delay they ask for."""
    return {
        "methodConfig": [{
            "name": [{"service": name} for name in IDEMPOTENT_SERVICES],
            "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": "0.1s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
        }],
    }


def names_replicas(target: str) -> bool:
    """Whether `target` names several addresses (`ipv4:a:1,b:2`) or a DNS name that may resolve to several
    (`dns:///name:port`): then the client balances with `service_config()` rather than `single_server_config()`."""
    scheme, _, rest = target.partition(":")
    return (scheme in ("ipv4", "ipv6") and "," in rest) or scheme == "dns"


def replicas_target(addresses: Sequence[str]) -> str:
    """`ipv4:127.0.0.1:50051,127.0.0.1:50052`: one target naming several replicas (IPv4 HOST:PORT each)."""
    if not addresses:
        raise ValueError("at least one replica address")
    return "ipv4:" + ",".join(addresses)


def channel_options(config: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """Channel arguments that put the service config in force (retries on; the resolver's own config ignored)."""
    return [("grpc.service_config", json.dumps(config or service_config())), ("grpc.enable_retries", 1),
            ("grpc.service_config_disable_resolution", 1)]


def replica_channel(target: str, *, credentials: grpc.ChannelCredentials | None = None,
                    options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel that balances over every replica `target` names (see `replicas_target`, or a DNS name:
    `dns:///mentormatch.NAMESPACE.svc.cluster.local:50051`)."""
    merged = [*channel_options(), *options]
    if credentials is not None:
        return grpc.secure_channel(target, credentials, options=merged)
    return grpc.insecure_channel(target, options=merged)
