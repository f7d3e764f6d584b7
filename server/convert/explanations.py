"""Explanations (`solver.explain`) -> `Explanation` and `ExplainPairResponse` messages."""

from __future__ import annotations

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.messages import to_message
from solver import explain


def explanation_to_proto(explanation: explain.Explanation) -> mpb.Explanation:
    """A `solver.explain.Explanation` as the `Explanation` message (blocking pairs listed up to 100)."""
    return to_message(explanation, mpb.Explanation())


def verdict_to_proto(verdict: explain.PairVerdict, label: str = "") -> mpb.ExplainPairResponse:
    """A `solver.explain.why_not` verdict as the ExplainPair answer."""
    return to_message(verdict, mpb.ExplainPairResponse(label=label))
