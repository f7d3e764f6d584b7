"""Conversions between the contract's messages (mentormatch.v1) and the engine's types, one module per family.

`problems` (request field paths), `options`, `results` (and the one JSON writer), `messages` (the generic dataclass <-> message walk),
`explanations`, `origins` (request paths of a derived cohort), `scenarios` and `rematch`. The cohort itself
converts in `solver.cohort_proto` and `solver.cohort_json`, below the engine, which reads the JSON form too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.convert.explanations import explanation_to_proto, verdict_to_proto
    from server.convert.messages import STABILITY_PAIRS_LISTED, plain, to_message
    from server.convert.options import (
        DEFAULT_ALTERNATIVES,
        DEFAULT_TIME_LIMIT_S,
        MAX_ALTERNATIVES,
        RequestOptions,
        duration,
        options_from_proto,
        options_to_proto,
    )
    from server.convert.problems import ROOT_FIELD, problem_code_name, problem_to_proto, proto_field_path
    from server.convert.rematch import (
        MAX_PENALTY,
        RematchInputs,
        rematch_inputs_from_proto,
        rematch_problems_to_proto,
        rematch_response_from_result,
    )
    from server.convert.results import match_response_from_result, response_dict, response_json
    from server.convert.scenarios import (
        DEFAULT_BASE_LABEL,
        MAX_SCENARIOS,
        comparison_to_proto,
        scenario_changes_from_proto,
        scenario_to_proto,
        scenarios_from_proto,
    )
    from solver.cohort_json import cohort_from_json_text, cohort_to_json_text, load_cohort_json
    from solver.cohort_proto import cohort_from_proto, cohort_from_proto_checked, cohort_to_proto

# Each name is imported from its module when first asked for (PEP 562): `from server.convert.results import ...`
# must not load the explanations, OR-Tools and the rest (`mentormatch solve --json` pays for what it uses).
_HOMES = {
    "DEFAULT_ALTERNATIVES": "server.convert.options",
    "DEFAULT_BASE_LABEL": "server.convert.scenarios",
    "DEFAULT_TIME_LIMIT_S": "server.convert.options",
    "MAX_ALTERNATIVES": "server.convert.options",
    "MAX_PENALTY": "server.convert.rematch",
    "MAX_SCENARIOS": "server.convert.scenarios",
    "ROOT_FIELD": "server.convert.problems",
    "RematchInputs": "server.convert.rematch",
    "RequestOptions": "server.convert.options",
    "STABILITY_PAIRS_LISTED": "server.convert.messages",
    "cohort_from_json_text": "solver.cohort_json",
    "cohort_from_proto": "solver.cohort_proto",
    "cohort_from_proto_checked": "solver.cohort_proto",
    "cohort_to_json_text": "solver.cohort_json",
    "cohort_to_proto": "solver.cohort_proto",
    "comparison_to_proto": "server.convert.scenarios",
    "duration": "server.convert.options",
    "explanation_to_proto": "server.convert.explanations",
    "load_cohort_json": "solver.cohort_json",
    "match_response_from_result": "server.convert.results",
    "options_from_proto": "server.convert.options",
    "options_to_proto": "server.convert.options",
    "plain": "server.convert.messages",
    "problem_code_name": "server.convert.problems",
    "problem_to_proto": "server.convert.problems",
    "proto_field_path": "server.convert.problems",
    "rematch_inputs_from_proto": "server.convert.rematch",
    "rematch_problems_to_proto": "server.convert.rematch",
    "rematch_response_from_result": "server.convert.rematch",
    "response_dict": "server.convert.results",
    "response_json": "server.convert.results",
    "scenario_changes_from_proto": "server.convert.scenarios",
    "scenario_to_proto": "server.convert.scenarios",
    "scenarios_from_proto": "server.convert.scenarios",
    "to_message": "server.convert.messages",
    "verdict_to_proto": "server.convert.explanations",
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_ALTERNATIVES",
    "DEFAULT_BASE_LABEL",
    "DEFAULT_TIME_LIMIT_S",
    "MAX_ALTERNATIVES",
    "MAX_PENALTY",
    "MAX_SCENARIOS",
    "ROOT_FIELD",
    "STABILITY_PAIRS_LISTED",
    "RematchInputs",
    "RequestOptions",
    "cohort_from_json_text",
    "cohort_from_proto",
    "cohort_from_proto_checked",
    "cohort_to_json_text",
    "cohort_to_proto",
    "comparison_to_proto",
    "duration",
    "explanation_to_proto",
    "load_cohort_json",
    "match_response_from_result",
    "options_from_proto",
    "options_to_proto",
    "plain",
    "problem_code_name",
    "problem_to_proto",
    "proto_field_path",
    "rematch_inputs_from_proto",
    "rematch_problems_to_proto",
    "rematch_response_from_result",
    "response_dict",
    "response_json",
    "scenario_changes_from_proto",
    "scenario_to_proto",
    "scenarios_from_proto",
    "to_message",
    "verdict_to_proto",
]
