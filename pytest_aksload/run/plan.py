"""One load test's run plan, resolved once per test: what is sent where, how, and with what checks.

`RunPlan.resolve` gathers it from the test's profile (the marker over the session's defaults),
its target (and the other side of a side-by-side gate), its sample (rows, expected predictions,
labels) and the session's settings the run needs (CA bundle, deployment). Pre-flight, the runner
and the capacity search read the plan; `run_settings` turns it into what the Locust child is told
(`protocol.RunSettings`), so nothing the child needs is decided anywhere else.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import RunSettings, SampleRows, new_run_id, request_id_prefix
from pytest_aksload.targets.target import OtherSide, Target


@dataclass(frozen=True)
class RunPlan:
    """Everything one load test's run needs except its outputs (progress, report paths)."""

    target: Target
    profile: LoadProfile
    sample: SampleRows
    ca_bundle: str | None = None  # PEM file of CAs to trust for https (--aks-ca-bundle)
    deployment: str | None = None  # --aml-deployment: answers from another one are `routing` failures
    against: OtherSide | None = None  # side by side: the other side (the result then holds it)
    # The load run's id, in every request's id (pre-flight's too) and in its result; a run after the
    # first (a capacity step) gets its own (`next_run`), so ids never repeat.
    run_id: str = field(default_factory=new_run_id)

    @classmethod
    def resolve(
        cls, target: Target, profile: LoadProfile, sample: SampleRows, settings: Settings, against: OtherSide | None
    ) -> RunPlan:
        return cls(
            target, profile, sample, ca_bundle=settings.aks_ca_bundle or None, deployment=settings.aml_deployment,
            against=against,
        )  # fmt: skip

    def with_profile(self, profile: LoadProfile) -> RunPlan:
        """The same run with another profile (a capacity step, an extended run)."""
        return dataclasses.replace(self, profile=profile)

    def next_run(self) -> RunPlan:
        """The same plan for another load run: a fresh run id."""
        return dataclasses.replace(self, run_id=new_run_id())

    def preflight_request_id(self, side: int = 0) -> str:
        """The id of pre-flight's request to the target (`side` 0) or the other side (1)."""
        return f"{request_id_prefix(self.run_id, f'p{side}')}0"

    def run_settings(self, rows_file: Path, result_file: Path, *, stream_windows: bool = False) -> RunSettings:
        """What the child is told about its run (everything but the secret headers). Side by side, the
        objectives go along so the child can stop once they are decided (not with warmup="auto": its
        cut is only known after the run)."""
        profile, against = self.profile, self.against
        scaled_out = bool(profile.workers or profile.remote_workers)
        return RunSettings(
            scoring_uri=self.target.scoring_uri,
            rows_file=str(rows_file),
            result_file=str(result_file),
            warmup_s=profile.warmup_s,
            request_timeout_s=profile.request_timeout_s,
            wait_s=profile.wait_s,
            ca_bundle=self.ca_bundle,
            # Local workers each read their share; a remote master divides when it configures them.
            rate=None if profile.rate is None else profile.rate / max(1, profile.workers),
            arrivals=profile.arrivals,
            # A distributed master ends the run itself (see pytest_aksload/_locust/distributed.py).
            run_time_s=math.ceil(profile.duration_s) if scaled_out else None,
            abort_on=tuple(str(rule) for rule in profile.abort_on),
            stream_windows=stream_windows,
            # warmup="auto": the cut is found after the run, so endpoints and errors must be cuttable too.
            window_detail=profile.warmup_auto,
            contract=profile.contract,
            batch=profile.batch,
            tolerance=profile.tolerance,
            deployment=self.deployment,
            against_uri=None if against is None else against.target.scoring_uri,
            against_deployment=None if against is None else against.deployment,
            objectives=tuple(str(slo) for slo in profile.slos)
            if against is not None and not profile.warmup_auto
            else (),
            run_id=self.run_id,
        )
