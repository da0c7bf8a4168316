"""Failed requests grouped by (kind, status, message), with a bounded number of groups.

One implementation for every place failures are grouped: the recorder (per run and per detailed
window), the distributed master merging its workers' groups, and a result re-cut after a warm-up
(`stats.windows.errors_of_windows`). A run that fails with ever new messages (a timestamp or a
request id in each) must not grow the result without bound: past `MAX_ERROR_GROUPS` distinct
groups, a new message is counted under `(other messages)` of its kind.

Each group keeps its first `MAX_EXAMPLES` failed requests by start time (`ErrorExample`: when, the
`x-ms-client-request-id` we sent, the server's `x-request-id`), so one can be found in the
server's logs; merged groups keep the earliest of all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_aksload.result_schema import ErrorExample, ErrorGroupRecord

MAX_ERROR_GROUPS = 50
MAX_EXAMPLES = 3
OTHER_MESSAGES = "(other messages)"

ErrorGroupKey = tuple[str, "int | None", str]  # (kind, status, message)


def example(at: float, request_id: str | None, x_request_id: str | None) -> ErrorExample:
    """One failed request as a group keeps it (`at`: its start, epoch seconds)."""
    return {"at": round(at, 3), "request_id": request_id, "x_request_id": x_request_id}


class ErrorGroups:
    """Failure counts by (kind, status, message), at most `MAX_ERROR_GROUPS` of them, with the
    first `MAX_EXAMPLES` examples of each."""

    __slots__ = ("counts", "examples")

    def __init__(self) -> None:
        self.counts: dict[ErrorGroupKey, int] = {}
        self.examples: dict[ErrorGroupKey, list[ErrorExample]] = {}

    def add(
        self, kind: str, status: int | None, message: str, count: int = 1, examples: Sequence[ErrorExample] = ()
    ) -> None:
        key = (kind, status, message)
        if key not in self.counts and len(self.counts) >= MAX_ERROR_GROUPS:
            key = (kind, None, OTHER_MESSAGES)
        self.counts[key] = self.counts.get(key, 0) + count
        if examples:
            kept = self.examples.get(key)
            if kept is None:
                kept = self.examples[key] = []
            elif len(kept) >= MAX_EXAMPLES and examples[0]["at"] >= kept[-1]["at"]:
                return  # the recorder's common case: later than every kept one
            kept.extend(examples)
            kept.sort(key=lambda item: item["at"])
            del kept[MAX_EXAMPLES:]

    def add_records(self, records: Iterable[ErrorGroupRecord]) -> None:
        """Add groups in their result-file form (a worker's, or a window's)."""
        for group in records:
            self.add(group["kind"], group["status"], group["message"], group["count"], group.get("examples", ()))

    def to_list(self) -> list[ErrorGroupRecord]:
        """The result file's form, most frequent first (ties in the order first seen)."""
        ordered = sorted(self.counts.items(), key=lambda item: -item[1])
        records: list[ErrorGroupRecord] = []
        for key, count in ordered:
            kind, status, message = key
            record: ErrorGroupRecord = {"kind": kind, "status": status, "message": message, "count": count}
            if key in self.examples:
                record["examples"] = list(self.examples[key])
            records.append(record)
        return records
