"""What the plugin keeps for a pytest session and for each load test (in `config.stash` and
`item.stash`). Light on purpose: pytest loads the plugin in every session of an environment it is
installed in, so nothing heavy is imported here; the heavy types are only named for type checkers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.config.settings import Settings
from pytest_aksload.run.interrupts import SigtermAsInterrupt

if TYPE_CHECKING:
    from pytest_aksload.reports.record import Record
    from pytest_aksload.stats.result import LoadResult
    from pytest_aksload.targets.deployment import Deployment
    from pytest_aksload.verdicts.gated import GatedResult


@dataclass
class AksloadSession:
    """One pytest session's settings and what it gathered (on the xdist controller: from every worker)."""

    settings: Settings
    baseline: dict[str, LoadResult] | None = None  # --aks-compare: stored results by test id
    records: list[Record] = field(default_factory=list)  # one per finished or interrupted load test
    report_page: Path | None = None  # --aks-report's report.html, once written
    compare_failure: str | None = None  # why the session fails: --aks-compare compared nothing
    sigterm: SigtermAsInterrupt = field(default_factory=SigtermAsInterrupt)  # installed for the session
    sample: Any = None  # --aks-sample's data.sample.Sample, loaded once (at the first load test's collection)

    @property
    def compared(self) -> int:
        return sum(1 for record in self.records if record["compared"])

    @property
    def measured(self) -> list[Record]:
        """The records of load tests that measured something (an entry could be compared)."""
        return [record for record in self.records if record["result"] is not None]


@dataclass
class LoadTestState:
    """One load test's state, from collection (its profile) to its report."""

    profile: LoadProfile
    target_name: str | None = None
    deployment: Deployment | None = None  # the target's (aks_target.deployment), for its record
    against_name: str | None = None  # side by side: what the test compared with
    locust_html: Path | None = None
    gated: GatedResult | None = None  # what the load measured and the gate concluded: the load_result fixture
    failed_by_gate: bool = False  # the body passed and the gate's failure failed the test
