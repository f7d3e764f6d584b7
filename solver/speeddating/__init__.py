"""The speed-dating kick-off: plan who meets whom in which round and at which table, and print it for the room."""

from solver.speeddating.plan import (
    MAX_ALTERNATIVES,
    MAX_MINUTES,
    MAX_ROUNDS,
    Meeting,
    MenteeCoverage,
    PlanObjective,
    PlanOptions,
    PlanStats,
    Slot,
    SpeedDatingPlan,
    Timetable,
    option_problems,
    plan_speed_dating,
)

__all__ = [
    "MAX_ALTERNATIVES",
    "MAX_MINUTES",
    "MAX_ROUNDS",
    "Meeting",
    "MenteeCoverage",
    "PlanObjective",
    "PlanOptions",
    "PlanStats",
    "Slot",
    "SpeedDatingPlan",
    "Timetable",
    "option_problems",
    "plan_speed_dating",
]
