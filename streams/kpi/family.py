"""The interface every event family's engine offers the pipeline and the report.

Contact queues (`engine.Engine`), agents, tickets and surveys each keep their own state; the
pipeline owns one engine of each family per input partition and treats them alike through this
protocol. Exactly-once after a crash rests on the same rule in every family (docs/exactly-once.md):
every record carries `pos`, the input position that last changed it; an event at a position a
record already reached is not applied to that record again; and `drain_writes()` lists records in
an order such that a record found written implies all records listed before it were written.
"""

from __future__ import annotations

from typing import Any, Protocol

#: A record's key within its family, e.g. ("acme", "ticket", "T-1"); strings only.
RecordKey = tuple[str, ...]
#: A changelog write: the record (JSON-able) or None to delete it.
RecordWrite = tuple[RecordKey, list[Any] | None]


class FamilyEngine(Protocol):
    """What the pipeline needs of a family engine (pure Python, no I/O)."""

    #: Short family name used in state-table keys and outputs: "agents", "tickets", "surveys".
    family: str

    def apply(self, event: Any, pos: int | None = None) -> str:
        """Apply one valid event of this family; returns a Verdict value ("applied",
        "duplicate", "too_late", "replayed")."""
        ...

    def drain_writes(self) -> list[RecordWrite]:
        """Records changed since the last call, in replay-safe write order."""
        ...

    def restore(self, key: RecordKey, record: list[Any]) -> None:
        """Load one record read back from the changelog (any order)."""
        ...

    def finish_restore(self) -> None:
        """Rebuild whatever is derived from records after the last `restore`."""
        ...

    def dirty_tenants(self) -> set[str]:
        """Tenants whose figures changed since the last call (and clear the set)."""
        ...

    def snapshot(self, tenant: str, now_ms: int, history: bool = True) -> dict[str, Any]:
        """Every figure of one tenant as of `now_ms`, JSON-ready; with `history`, also each
        interval's figures (`intervals`), which reports show and the live sinks never read."""
        ...

    def tenants(self) -> list[str]:
        ...

    def collect_garbage(self) -> None:
        """Drop state that can no longer change any figure (writes deletions)."""
        ...
