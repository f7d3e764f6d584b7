"""The `mentormatch serve` command: run the gRPC service until SIGTERM, then drain.

gRPC and the service are imported inside the command, so that `mentormatch --help` does not load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve_command(
    port: Annotated[int, typer.Option(help="gRPC port (0 picks a free one; the log says which)")] = 50051,
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0 for every interface)")] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port (/metrics); -1 turns it off")] = 9464,
    max_concurrent: Annotated[int, typer.Option(min=1, help="solves at once; beyond, RESOURCE_EXHAUSTED")] = 2,
    max_participants: Annotated[int, typer.Option(
        min=1, help="mentors + mentees per cohort; beyond, INVALID_ARGUMENT (COHORT_TOO_LARGE)")] = 20_000,
    max_message_mb: Annotated[int, typer.Option(min=1, help="largest request message, MiB")] = 64,
    max_time_limit: Annotated[float, typer.Option(help="longest solve in seconds, whatever a call asks")] = 300.0,
    grace: Annotated[float, typer.Option(help="seconds calls in flight get to finish on SIGTERM")] = 10.0,
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate chain (PEM); turns on TLS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="server private key (PEM)")] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(
        help="CA certificate (PEM) clients' certificates must chain to: mutual TLS")] = None,
    token_file: Annotated[Path | None, typer.Option(
        help="file holding the bearer token every call but health checks must send")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
    workers: Annotated[int, typer.Option(
        min=1, help="server processes sharing the port (one per core serves more small calls: the solver is "
                    "Python under one lock); each has --max-concurrent slots, metrics are summed")] = 1,
) -> None:
    """Serve mentormatch.v1.MatchingService over gRPC, with health checks, reflection and metrics."""
    from server.app import MiB, ServerConfig, serve
    from server.auth import ConfigError
    from server.logging_setup import configure_logging

    logger = configure_logging(log_level)
    config = ServerConfig(
        host=host, port=port, metrics_port=None if metrics_port < 0 else metrics_port,
        max_concurrent=max_concurrent, max_participants=max_participants, max_message_bytes=max_message_mb * MiB,
        max_time_limit_s=max_time_limit, grace_s=grace, tls_cert=tls_cert, tls_key=tls_key,
        tls_client_ca=tls_client_ca, token_file=token_file)
    try:
        if workers > 1:
            from server.workers import serve_workers

            code = serve_workers(config, workers, log_level, logger)
            if code:
                raise typer.Exit(code)
        else:
            serve(config, logger)
    except ConfigError as error:
        logger.error("config_error", extra={"fields": {"message": str(error)}})
        typer.echo(f"mentormatch serve: {error}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Joins `serve` to the command line (idempotent)."""
    if not any(command.name == "serve" for command in app.registered_commands):
        app.command("serve")(serve_command)
