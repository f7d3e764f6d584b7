"""`mentormatch serve --workers N`: N server processes on one port, one metrics endpoint.

A solve is Python and C++ under one interpreter lock, so one process serves about one core's worth of
small calls however many threads it has (measured: 44 calls/s with one client, 35 with four). This
supervisor starts N worker processes, each a complete server (`server.app.create_server`) bound to the same
port with SO_REUSEPORT, so the kernel spreads connections over them. Each keeps its own slots
(`--max-concurrent` per worker), health and draining.

Metrics: the workers write their samples to files in a directory of the supervisor's (prometheus-client's
multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`), and the supervisor serves their sum on `--metrics-port`.
Counters and histograms add up over the workers; the in-flight and slot gauges are live sums.

Signals: SIGTERM or SIGINT to the supervisor is passed to every worker, which drains as a single server
does; the supervisor exits when they have, 0 if all of them exited 0. A worker that dies on its own stops
the others (exit 1), so whatever runs the service restarts it whole. A worker whose supervisor is gone
drains and exits.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from server.app import CLOSE_WAIT_S, ServerConfig
from server.auth import ConfigError
from server.status import ServiceLimits

CONFIG_ENV = "MENTORMATCH_WORKER_CONFIG"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def config_to_json(config: ServerConfig) -> str:
    data = dataclasses.asdict(config)
    return json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()})


def config_from_json(text: str) -> ServerConfig:
    data: dict[str, Any] = json.loads(text)
    for name in ("tls_cert", "tls_key", "tls_client_ca", "token_file"):
        if data.get(name) is not None:
            data[name] = Path(data[name])
    data["limits"] = ServiceLimits(**data["limits"])
    return ServerConfig(**data)


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to host:port with SO_REUSEPORT: fixes port 0 to one free port for all the
    workers, and holds it while they start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def serve_workers(config: ServerConfig, workers: int, log_level: str, logger: logging.Logger) -> int:
    """Run `workers` server processes on `config.port` until SIGTERM or SIGINT, then exit the process with its exit
    code (0 when every worker exited 0) as soon as they are gone: like a drained server (`server.app.serve`), it
    skips the interpreter's shutdown (~0.5-1 s on a busy machine, past the drain's bound)."""
    code = _serve_workers(config, workers, log_level, logger)
    for handler in logger.handlers:
        handler.flush()
    os._exit(code)


def _serve_workers(config: ServerConfig, workers: int, log_level: str, logger: logging.Logger) -> int:
    config.check()
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    reserved = _reserve(config.host, config.port)
    port = int(reserved.getsockname()[1])
    metrics_dir = tempfile.mkdtemp(prefix="mentormatch-metrics-")
    endpoint = None
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if config.metrics_port is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=metrics_dir)
            try:
                endpoint, _ = start_http_server(config.metrics_port, addr=config.metrics_host or config.host,
                                                registry=registry)
            except OSError as error:
                raise ConfigError(f"cannot serve metrics on port {config.metrics_port}: {error.strerror}") from None
        child = dataclasses.replace(config, port=port, metrics_port=None, reuse_port=True)
        env = {**os.environ, CONFIG_ENV: config_to_json(child), MULTIPROC_ENV: metrics_dir,
               "MENTORMATCH_LOG_LEVEL": log_level}
        command = [sys.executable, "-c", "from server.workers import worker_main; worker_main()"]
        for index in range(workers):
            processes.append(subprocess.Popen(command, env={**env, "MENTORMATCH_WORKER": str(index)},
                                              stdin=subprocess.DEVNULL))
        logger.info("supervising", extra={"fields": {
            "port": port, "workers": workers, "pids": [p.pid for p in processes],
            "metrics_port": endpoint.server_port if endpoint is not None else None}})
        return _supervise(processes, logger, lambda pid: mark_process_dead(pid, metrics_dir), config.grace_s)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if endpoint is not None:
            # shutdown() waits for the endpoint's poll (up to 0.5 s): not on the way out.
            threading.Thread(target=endpoint.shutdown, name="mentormatch-metrics-close", daemon=True).start()
            endpoint.server_close()
        reserved.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(processes: list[subprocess.Popen[bytes]], logger: logging.Logger,
               dead: Callable[[int], None], grace_s: float) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        while not stopping.wait(0.2):
            gone = [p for p in processes if p.poll() is not None]
            if gone:
                logger.error("worker_exited", extra={"fields": {"pid": gone[0].pid, "code": gone[0].returncode}})
                code = 1
                break
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        # A worker exits within its grace and CLOSE_WAIT_S twice (server.app.serve); past that, it is stuck.
        end = time.monotonic() + grace_s + 2 * CLOSE_WAIT_S + 0.2
        for process in processes:
            try:
                returned = process.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("worker_stuck", extra={"fields": {"pid": process.pid}})
                process.kill()
                returned = process.wait()
            dead(process.pid)
            # Killed by our SIGTERM (-15): it was still starting, before its handler was set, so it served nothing.
            if returned not in (0, -signal.SIGTERM):
                code = 1
        logger.info("stopped", extra={"fields": {"code": code}})
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def worker_main() -> None:
    """One worker: a complete server on the shared port, drained on SIGTERM or when its supervisor is gone."""
    from server.app import serve
    from server.logging_setup import configure_logging

    logger = configure_logging(os.environ.get("MENTORMATCH_LOG_LEVEL", "info"))
    config = config_from_json(os.environ[CONFIG_ENV])
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor died without passing a signal on: drain

    threading.Thread(target=orphaned, name="mentormatch-orphan-watch", daemon=True).start()
    try:
        serve(config, logger)
    except ConfigError as error:
        logger.error("config_error", extra={"fields": {"message": str(error)}})
        sys.exit(2)
