"""Failed requests grouped by (kind, status, message), with a bounded number of groups.

One implementation for every place failures are grouped: the recorder (per run and per detailed
window), the distributed master merging its workers' groups, and a result re-cut after a warm-up
(`stats.windows.errors_of_windows`). A run that fails with ever new messages (a timestamp or a
request id in each) must not grow the result without bound: past `MAX_ERROR_GROUPS` distinct
groups, a new message is counted under `(other messages)` of its kind.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_aksload.protocol import ErrorGroupRecord

MAX_ERROR_GROUPS = 50
OTHER_MESSAGES = "(other messages)"

ErrorGroupKey = tuple[str, "int | None", str]  # (kind, status, message)


class ErrorGroups:
    """Failure counts by (kind, status, message), at most `MAX_ERROR_GROUPS` of them."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[ErrorGroupKey, int] = {}

    def add(self, kind: str, status: int | None, message: str, count: int = 1) -> None:
        key = (kind, status, message)
        if key not in self.counts and len(self.counts) >= MAX_ERROR_GROUPS:
            key = (kind, None, OTHER_MESSAGES)
        self.counts[key] = self.counts.get(key, 0) + count

    def add_records(self, records: Iterable[ErrorGroupRecord]) -> None:
        """Add groups in their result-file form (a worker's, or a window's)."""
        for group in records:
            self.add(group["kind"], group["status"], group["message"], group["count"])

    def to_list(self) -> list[ErrorGroupRecord]:
        """The result file's form, most frequent first (ties in the order first seen)."""
        ordered = sorted(self.counts.items(), key=lambda item: -item[1])
        return [
            {"kind": kind, "status": status, "message": message, "count": count}
            for (kind, status, message), count in ordered
        ]
