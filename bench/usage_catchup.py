"""The aggregator's catch-up: 168 hourly commits of 100 records per node, 10 nodes by
default, or ``BENCH_CATCHUP=full`` for the 100 x 168 x 100 the pipeline is sized for
(1.68M records, measured end to end). The walk is set beside ``tomli`` parsing the same
batch files; the drain beside raw batched SQL on the same database. A scaled run states
the full figure extrapolated, and its goal is not met: only a measured run meets it.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import Figure, Goal, at_least
from bench.usage_git import SQL_LIMIT, GitRun, git_details, measure_git, shape_text

#: The full catch-up the pipeline is sized for: 100 nodes x 168 hourly commits x 100 records.
FULL_CATCHUP = (100, 168, 100)
#: Goals: the walk at half the parse rate of the same files; the full catch-up, measured,
#: charged within a minute.
GOAL_WALK = at_least(0.50)
GOAL_FULL_S = 60.0


def measure_catchup(shape: tuple[int, int, int], *, accounts: int, log_dir: Path) -> GitRun:
    """The catch-up of *shape* through the aggregator and a worker, with the parse limit."""
    return measure_git(
        "catchup", shape, accounts=accounts, log_dir=log_dir, parse_limit=True, slim_limit=False
    )


def catchup_figures(catch: GitRun) -> list[Figure]:
    """Walk commits/s and records/s, charged records/s and the full catch-up in seconds."""
    assert catch.parse is not None
    details = git_details(catch)
    per_commit = catch.shape[2]
    label = shape_text(catch.shape)
    figures = [
        Figure(
            "usage",
            f"catch-up {label}: walk ({catch.walk_s:.1f} s), commits/s",
            catch.commits / catch.walk_s,
            "commit/s",
            "tomli parse of the same files",
            catch.parse.per_s / per_commit,
            "1.3k",
            details,
            cpu=catch.aggregator_cpu,
            limit_unit="file/s",
            goal=GOAL_WALK,
        ),
        Figure(
            "usage",
            f"catch-up {label}: walk ({catch.walk_s:.1f} s), records/s",
            catch.records / catch.walk_s,
            "rec/s",
            "tomli parse of the same files",
            catch.parse.per_s,
            "131k",
            {"parse": {"records": catch.parse.count, "seconds": catch.parse.seconds}},
            cpu=catch.aggregator_cpu,
        ),
        Figure(
            "usage",
            f"catch-up {label}: all charged ({catch.drain.seconds:.1f} s), records/s",
            catch.drain.per_s,
            "rec/s",
            SQL_LIMIT,
            catch.sql.per_s,
            "",
            details,
            cpu=catch.worker_cpu,
        ),
    ]
    full_nodes, full_commits, full_records = FULL_CATCHUP
    full = full_nodes * full_commits * full_records
    scale = full / catch.records
    measured = catch.shape == FULL_CATCHUP
    how = "measured" if measured else f"EXTRAPOLATED x{scale:g} from {label}"
    goal = Goal(
        "value_under", GOAL_FULL_S, void="" if measured else "extrapolated: run BENCH_CATCHUP=full"
    )
    figures += [
        Figure(
            "usage",
            f"catch-up {shape_text(FULL_CATCHUP)} walk, s ({how})",
            catch.walk_s * scale,
            "s",
            "tomli parse alone, same records",
            full / catch.parse.per_s,
            "",
            {"scale": scale, "measured_walk_s": catch.walk_s},
        ),
        Figure(
            "usage",
            f"catch-up {shape_text(FULL_CATCHUP)} to all charged, s ({how})",
            catch.drain.seconds * scale,
            "s",
            "raw batched SQL (as above), same records",
            full / catch.sql.per_s,
            "",
            {"scale": scale, "measured_s": catch.drain.seconds},
            goal=goal,
        ),
        Figure(
            "memory",
            f"aggregator peak RSS (catch-up {label})",
            catch.aggregator_rss_mib,
            "MiB",
            "hero-admin node list",
            catch.cli_baseline_mib,
        ),
    ]
    return figures
