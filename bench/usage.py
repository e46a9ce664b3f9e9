"""The usage pipeline: records/s through git (``bench.usage_git``) and through NATS
(``bench.usage_nats``), a node agent publishing (``bench.usage_agent``), the aggregator's
catch-up (``bench.usage_catchup``), and the memory of the worker, the bridge, the
aggregator and a node agent under load.

Every run has its own PostgreSQL database and RabbitMQ vhost, accounts that never paid
(so every record is charged at x1 and the oracle is the sum of the amounts sent), and a
real ``hero-onboarding worker`` with ``WORKER_THREADS`` threads, started and ready before
the clock starts. Every figure is set beside a limit measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Check, Figure
from bench.usage_agent import agent_figures, measure_node_agent, node_agent_available
from bench.usage_catchup import FULL_CATCHUP, catchup_figures, measure_catchup
from bench.usage_git import git_figures, measure_git
from bench.usage_nats import measure_nats, nats_figures, scale_out_figure

__all__ = ["FULL_CATCHUP", "PARTS", "UsageParams", "run"]

#: The runs of the section, in order: ``BENCH_USAGE_PARTS`` picks some of them.
PARTS = ("git", "nats", "agent", "catchup")


@dataclass(frozen=True)
class UsageParams:
    """What the usage section runs (from ``BENCH_*``; see ``bench.main``)."""

    git_nodes: int = 5
    git_commits: int = 24
    git_records: int = 500
    nats_records: int = 30_000
    nats_nodes: int = 5
    catchup_nodes: int = 10
    catchup_commits: int = 168
    catchup_records: int = 100
    accounts: int = 200
    #: Worker processes of a second NATS run set beside the first (1: no second run).
    scale_out: int = 1
    #: Which of ``PARTS`` to run (all by default).
    parts: tuple[str, ...] = PARTS

    @property
    def catchup_full(self) -> bool:
        return (self.catchup_nodes, self.catchup_commits, self.catchup_records) == FULL_CATCHUP

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run(params: UsageParams, log_dir: Path) -> tuple[list[Figure], list[Check]]:
    """Measure the usage figures of ``params.parts``; the figures and the runs' checks."""
    figures: list[Figure] = []
    checks: list[Check] = []
    worker_rss: dict[str, tuple[float, float]] = {}
    if "git" in params.parts:
        git = measure_git(
            "git",
            (params.git_nodes, params.git_commits, params.git_records),
            accounts=params.accounts,
            log_dir=log_dir,
            parse_limit=False,
            slim_limit=True,
        )
        checks += git.checks
        figures += git_figures(git)
        worker_rss["git"] = (git.worker_rss_mib, git.worker_idle_mib)

    if "nats" in params.parts:
        nats = measure_nats(
            params.nats_records,
            nodes_n=params.nats_nodes,
            accounts=params.accounts,
            log_dir=log_dir,
        )
        checks += nats.checks
        figures += nats_figures(nats)
        worker_rss["nats"] = (nats.worker_rss_mib, nats.worker_idle_mib)
        if params.scale_out > 1:
            more = measure_nats(
                params.nats_records,
                nodes_n=params.nats_nodes,
                accounts=params.accounts,
                log_dir=log_dir,
                worker_processes=params.scale_out,
            )
            checks += more.checks
            figures.append(scale_out_figure(nats, more, params.scale_out))

        if "agent" in params.parts and node_agent_available():  # its limit is the NATS run's
            try:
                agent = measure_node_agent(params.nats_records, log_dir=log_dir)
            except Exception as exc:  # a node agent that does not work is reported, not fatal
                checks.append(
                    Check(
                        f"node agent {params.nats_records}: hero-node serve published its journal",
                        False,
                        repr(exc)[:300],
                    )
                )
            else:
                checks += agent.checks
                figures += agent_figures(agent, nats.publish, nats.publisher_rss_mib)

    if "catchup" in params.parts:
        catch = measure_catchup(
            (params.catchup_nodes, params.catchup_commits, params.catchup_records),
            accounts=params.accounts,
            log_dir=log_dir,
        )
        checks += catch.checks
        figures += catchup_figures(catch)
        worker_rss["catch-up"] = (catch.worker_rss_mib, catch.worker_idle_mib)

    peak_run = max(worker_rss, key=lambda k: worker_rss[k][0])
    figures.append(
        Figure(
            "memory",
            f"usage worker peak RSS ({peak_run})",
            worker_rss[peak_run][0],
            "MiB",
            "same worker, idle after start",
            worker_rss[peak_run][1],
            details={
                k: {"peak_mib": round(v[0], 1), "idle_mib": round(v[1], 1)}
                for k, v in worker_rss.items()
            },
        )
    )
    return figures, checks
