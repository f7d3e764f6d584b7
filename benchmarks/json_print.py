"""`solve --json`'s print alone, before (`json_format.MessageToJson`) and after (`server.convert.results.response_json`),
alternating in one process, on an answer written by the command line:

    mentormatch solve scenarios/kvinfo_network --explain --json -k 3 > /tmp/kvinfo.json
    .venv/bin/python -m benchmarks.json_print /tmp/kvinfo.json [repeats]

Both texts are checked equal first; wall and CPU medians are printed for each."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf import json_format

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.results import response_json


def main(path: str, repeats: int = 9) -> None:
    answer = json_format.Parse(Path(path).read_text(encoding="utf-8"), mpb.MatchResponse())

    def before() -> str:
        return json_format.MessageToJson(answer, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True, indent=2, ensure_ascii=False)

    def after() -> str:
        return response_json(answer)

    if before() != after():
        raise SystemExit("the two texts differ")
    times: dict[str, tuple[list[float], list[float]]] = {"before": ([], []), "after": ([], [])}
    with open("/dev/null", "w", encoding="utf-8") as out:
        for i in range(repeats):
            order: list[tuple[str, Callable[[], str]]] = [("before", before), ("after", after)]
            for name, write in order if i % 2 == 0 else order[::-1]:
                wall, cpu = time.perf_counter(), time.process_time()
                print(write(), file=out)
                times[name][0].append(time.perf_counter() - wall)
                times[name][1].append(time.process_time() - cpu)
    for name, (walls, cpus) in times.items():
        print(f"{name}: wall median {statistics.median(walls) * 1000:.0f} ms (min {min(walls) * 1000:.0f}), "
              f"CPU median {statistics.median(cpus) * 1000:.0f} ms (min {min(cpus) * 1000:.0f})")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
