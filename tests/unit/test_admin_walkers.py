"""``hero-admin aggregate --processes``: how many nodes are walked at once by default, and
what is refused."""

from __future__ import annotations

import os

import pytest

from cli.admin import make_parser


def test_half_the_cores_walk_by_default_and_one_at_the_least() -> None:
    args = make_parser().parse_args(["aggregate"])
    assert args.processes == max(1, (os.cpu_count() or 1) // 2) >= 1
    assert make_parser().parse_args(["aggregate", "--processes", "4"]).processes == 4


@pytest.mark.parametrize("bad", ["0", "-2", "65", "two", ""])
def test_a_walker_count_out_of_range_is_refused_naming_the_option(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(["aggregate", "--processes", bad])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--processes: " in err and "Traceback" not in err
