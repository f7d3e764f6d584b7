"""Explanations a coordinator can act on: why each pair, why each unmatched, what would change it, why not a pair.

The modules, bottom up: `codes` (fixed codes, what a relaxation changes), `wording`, `types` (the result
dataclasses and `ExplainOptions`), `context` (a solve result keyed for lookups), `facts` (per pair: soft
terms and hard-rule checks), `unmatched` (funnel, reason, nearest misses), `counterfactual` (re-solves),
`recruiting`, `matchings` (whole results) and `pair_verdict` (why not these two).
"""

from solver.explain.codes import Relaxation, Side, UnmatchedReason, apply_relaxation
from solver.explain.counterfactual import ExtraConstraints
from solver.explain.facts import explain_pair, explain_pairs
from solver.explain.matchings import explain, explain_unmatched
from solver.explain.pair_verdict import why_not
from solver.explain.recruiting import recruitment_advice
from solver.explain.types import (
    Counterfactual,
    ExplainOptions,
    Explanation,
    Funnel,
    FunnelStep,
    Impact,
    MatchingExplanation,
    NearMiss,
    PairExplanation,
    PairVerdict,
    Reason,
    RecruitmentAdvice,
    RuleCheck,
    Shortfall,
    TakenBy,
    TermPoints,
    UnmatchedExplanation,
)

__all__ = [
    "Counterfactual",
    "ExplainOptions",
    "Explanation",
    "ExtraConstraints",
    "Funnel",
    "FunnelStep",
    "Impact",
    "MatchingExplanation",
    "NearMiss",
    "PairExplanation",
    "PairVerdict",
    "Reason",
    "RecruitmentAdvice",
    "Relaxation",
    "RuleCheck",
    "Shortfall",
    "Side",
    "TakenBy",
    "TermPoints",
    "UnmatchedExplanation",
    "UnmatchedReason",
    "apply_relaxation",
    "explain",
    "explain_pair",
    "explain_pairs",
    "explain_unmatched",
    "recruitment_advice",
    "why_not",
]
