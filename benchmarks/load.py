"""A bounded load test of the gRPC service on loopback: many concurrent clients, mixed cohort sizes, a fixed
number of calls.

Every call must be answered (OK) or refused with RESOURCE_EXHAUSTED (the service's overload answer); any
other outcome, or a call that never returns, is "lost". The server runs as `mentormatch serve` in a
subprocess, so its resident memory (VmRSS from /proc) is its own: read after a warm-up and at the end, it
must stay flat. Latency percentiles are reported for answered and refused calls apart, and the server's
own `grpc_server_handled_total` must count exactly the calls made.

    python -m benchmarks.load                 # the long run (`make load`)
    python -m benchmarks.load --calls 200     # shorter
    python -m benchmarks.load --json out/load.json

`tests/test_load.py` runs a short version of the same code in `make test`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/load.py` as well as `python -m benchmarks.load`
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class LoadConfig:
    clients: int = 32  # concurrent client threads, each with its own channel
    calls: int = 3_000  # calls in all, shared by the clients, warm-up included
    warmup_calls: int = 150  # the first calls, before the memory baseline is read
    sizes: tuple[tuple[int, int], ...] = ((6, 5), (30, 25), (80, 70), (200, 180))  # (mentees, mentors) mixed
    max_concurrent: int = 2  # the server's solve slots
    call_timeout_s: float = 60.0  # every call has this deadline: a call still open then counts as lost
    backoff_s: float = 0.5  # a refused client waits about this long (jittered) before its next call, as RetryInfo asks
    seed: int = 1


@dataclass
class LoadResult:
    calls: int = 0
    answered: int = 0
    refused: int = 0
    lost: Counter[str] = field(default_factory=Counter)  # status code name -> calls neither answered nor refused
    kinds: Counter[str] = field(default_factory=Counter)  # "Match OK", "StreamMatch RESOURCE_EXHAUSTED", ...
    answered_s: list[float] = field(default_factory=list)
    refused_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    rss_start_kib: int = 0
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    server_handled: float = 0.0  # grpc_server_handled_total summed over the service's methods
    server_in_flight: float = 0.0

    @property
    def rss_growth_kib(self) -> int:
        return self.rss_end_kib - self.rss_warm_kib

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("answered_s", "refused_s")}
        data.update(lost=dict(self.lost), kinds=dict(self.kinds), rss_growth_kib=self.rss_growth_kib,
                    answered_p50_ms=_ms(self.answered_s, 0.5), answered_p99_ms=_ms(self.answered_s, 0.99),
                    refused_p50_ms=_ms(self.refused_s, 0.5), refused_p99_ms=_ms(self.refused_s, 0.99),
                    calls_per_s=round(self.calls / self.wall_s, 1) if self.wall_s else 0.0)
        return data

    def lines(self) -> list[str]:
        s = self.summary()
        return [
            f"calls {self.calls}: answered {self.answered}, refused (RESOURCE_EXHAUSTED) {self.refused}, "
            f"lost {sum(self.lost.values())} {dict(self.lost) or ''}".rstrip(),
            "by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items())),
            f"answered latency p50 {s['answered_p50_ms']} ms, p99 {s['answered_p99_ms']} ms; "
            f"refused p50 {s['refused_p50_ms']} ms, p99 {s['refused_p99_ms']} ms",
            f"wall {self.wall_s:.1f} s, {s['calls_per_s']} calls/s",
            f"server RSS: start {self.rss_start_kib / 1024:.0f} MiB, after warm-up {self.rss_warm_kib / 1024:.0f} MiB, "
            f"end {self.rss_end_kib / 1024:.0f} MiB (growth {self.rss_growth_kib / 1024:+.1f} MiB)",
            f"server counted {self.server_handled:.0f} handled calls, {self.server_in_flight:.0f} solves in flight",
        ]


def _ms(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)  # nearest rank
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return round(ordered[rank - 1] * 1000, 1)


def _requests(config: LoadConfig) -> list[Any]:
    """One request per size (a cohort with rankings and side constraints), in the mix's proportions."""
    from mentormatch.v1 import matching_pb2 as mpb
    from server.convert import cohort_to_proto, duration
    from tests.oracle import random_cohort

    out = []
    for k, (n_mentees, n_mentors) in enumerate(config.sizes):
        cohort = random_cohort(random.Random(config.seed + k), n_mentees, n_mentors, side_constraints=True,
                               rankings=True)
        options = mpb.MatchOptions(alternatives=2, time_limit=duration(10.0), explain=mpb.EXPLAIN_LEVEL_PAIRS)
        out.append(mpb.MatchRequest(cohort=cohort_to_proto(cohort), options=options, label=f"load-{k}"))
    return out


def run_load(address: str, config: LoadConfig, rss: Callable[[], int], metrics_url: str | None = None) -> LoadResult:
    """Drive `config.calls` calls from `config.clients` threads; `rss()` reads the server's VmRSS in KiB."""
    from mentormatch.v1 import matching_pb2 as mpb
    from server.client import SERVICE_PATH

    requests = _requests(config)
    result = LoadResult(rss_start_kib=rss())
    lock = threading.Lock()
    next_call = [0]
    warm = threading.Event()
    warm_done = [0]

    def take() -> int | None:
        with lock:
            if next_call[0] >= config.calls:
                return None
            next_call[0] += 1
            return next_call[0] - 1

    def finished() -> None:
        with lock:
            warm_done[0] += 1
            if warm_done[0] == config.warmup_calls:
                warm.set()

    def client(number: int) -> None:
        rng = random.Random(config.seed * 1000 + number)
        with grpc.insecure_channel(address) as channel:
            match = channel.unary_unary(SERVICE_PATH + "Match", request_serializer=mpb.MatchRequest.SerializeToString,
                                        response_deserializer=mpb.MatchResponse.FromString)
            stream = channel.unary_stream(SERVICE_PATH + "StreamMatch",
                                          request_serializer=mpb.StreamMatchRequest.SerializeToString,
                                          response_deserializer=mpb.StreamMatchResponse.FromString)
            while (index := take()) is not None:
                request = requests[rng.randrange(len(requests))]
                roll = rng.random()
                kind = "validate_only" if roll < 0.1 else "StreamMatch" if roll < 0.25 else "Match"
                started = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    if kind == "StreamMatch":
                        messages = list(stream(mpb.StreamMatchRequest(cohort=request.cohort, options=request.options),
                                               timeout=config.call_timeout_s))
                        if not messages or messages[-1].WhichOneof("event") != "result":
                            code = grpc.StatusCode.DATA_LOSS
                    elif kind == "validate_only":
                        match(mpb.MatchRequest(cohort=request.cohort, validate_only=True),
                              timeout=config.call_timeout_s)
                    else:
                        answer = match(request, timeout=config.call_timeout_s)
                        if not answer.matchings:
                            code = grpc.StatusCode.DATA_LOSS
                except grpc.RpcError as error:
                    code = error.code()
                elapsed = time.perf_counter() - started
                with lock:
                    result.calls += 1
                    result.kinds[f"{kind} {code.name}"] += 1
                    if code == grpc.StatusCode.OK:
                        result.answered += 1
                        result.answered_s.append(elapsed)
                    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        result.refused += 1
                        result.refused_s.append(elapsed)
                    else:
                        result.lost[code.name] += 1
                if index < config.warmup_calls:
                    finished()
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    time.sleep(config.backoff_s * (0.5 + rng.random()))

    threads = [threading.Thread(target=client, args=(k,), name=f"load-client-{k}", daemon=True)
               for k in range(config.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if config.warmup_calls:
        warm.wait(config.call_timeout_s * 2)
    result.rss_warm_kib = rss()
    deadline = started + config.call_timeout_s * (config.calls / max(1, config.clients) + 2)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    result.wall_s = time.monotonic() - started
    missing = config.calls - result.calls
    if missing or any(t.is_alive() for t in threads):
        result.lost["NEVER_RETURNED"] += max(missing, 1)
    result.rss_end_kib = rss()
    if metrics_url is not None:
        # A stream is counted when its handler returns, a moment after the client has read the last message.
        settle = time.monotonic() + 5
        while True:
            result.server_handled, result.server_in_flight = server_counts(metrics_url)
            if (result.server_handled, result.server_in_flight) == (result.calls, 0) or time.monotonic() > settle:
                break
            time.sleep(0.05)
    return result


def server_counts(metrics_url: str) -> tuple[float, float]:
    """(calls the server counted as handled for MatchingService, solves in flight) from its /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    handled = in_flight = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "grpc_server_handled_total" and \
                    sample.labels.get("grpc_service") == "mentormatch.v1.MatchingService":
                handled += sample.value
            elif sample.name == "mentormatch_solves_in_flight":
                in_flight = sample.value
    return handled, in_flight


def run_against_subprocess(config: LoadConfig) -> LoadResult:
    """Start `mentormatch serve` (its own process, so its own RSS), drive the load, stop it with SIGTERM."""
    from tests.hardening_support import rss_kib, serve_process

    with serve_process("--max-concurrent", str(config.max_concurrent), "--grace", "5",
                       "--log-level", "warning") as server:
        result = run_load(server.address, config, lambda: rss_kib(server.pid),
                          f"http://127.0.0.1:{server.metrics_port}/metrics")
        server.terminate()
        server.process.wait(30)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    defaults = LoadConfig()
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--calls", type=int, default=defaults.calls)
    parser.add_argument("--warmup", type=int, default=defaults.warmup_calls)
    parser.add_argument("--max-concurrent", type=int, default=defaults.max_concurrent)
    parser.add_argument("--max-rss-growth-mib", type=float, default=64.0,
                        help="fail when the server's RSS grows more than this after the warm-up")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    config = LoadConfig(clients=args.clients, calls=args.calls, warmup_calls=min(args.warmup, args.calls),
                        max_concurrent=args.max_concurrent)
    print(f"load: {config.clients} clients, {config.calls} calls (warm-up {config.warmup_calls}), cohort sizes "
          f"{', '.join(f'{a}x{b}' for a, b in config.sizes)}, server max_concurrent {config.max_concurrent}",
          flush=True)
    result = run_against_subprocess(config)
    for line in result.lines():
        print("  " + line)
    if args.json:
        from solver.fileio import write_atomic  # whole or not at all, as every file the project writes

        write_atomic(args.json, json.dumps({"config": asdict(config), "result": result.summary()}, indent=2) + "\n")
    failures = []
    if result.lost:
        failures.append(f"lost calls: {dict(result.lost)}")
    if result.server_handled != result.calls:
        failures.append(f"the server counted {result.server_handled:.0f} calls, the clients made {result.calls}")
    if result.rss_growth_kib > args.max_rss_growth_mib * 1024:
        failures.append(f"server memory grew {result.rss_growth_kib / 1024:.1f} MiB after the warm-up")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("load: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
