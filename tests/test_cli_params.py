"""Numbers on the command line that make no sense are refused with exit 2 and say why, before any work."""

from __future__ import annotations

import pytest

from tests.cli_support import run_cli
from tests.conftest import SCENARIOS


@pytest.mark.parametrize("args", [("--time-limit", "nan"), ("--time-limit", "inf"), ("--time-limit", "-5"),
                                  ("--time-limit", "1e308"), ("--min-difference", "-1"), ("--min-difference", "0")])
def test_a_time_limit_or_difference_that_makes_no_sense_exits_2(args: tuple[str, str]) -> None:
    result = run_cli("solve", SCENARIOS / "lyngby_career", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and args[0] in result.stderr


def test_a_sensible_time_limit_still_solves() -> None:
    result = run_cli("solve", SCENARIOS / "lyngby_career", "--time-limit", "5", "-k", "1", "--json")
    assert result.returncode == 0, result.stderr
