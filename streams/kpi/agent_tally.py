"""One agent bucket's counts (`AgentTally`): milliseconds per state, contacts handled, rings
left unanswered, and the tenant totals' events too late or repeated. Definitions:
docs/agent-kpis.md.

A tally is read and written by field name, as a dict of named ints was. Its fields are
attributes: compiled, machine integers, so adding to one costs a few comparisons and an
addition, where a dict cost a hash look-up, a new int object and a store per addition (the
agent engine adds to about eight per event). Seconds paused per reason, whose names are open,
stay in a dict. A field at zero is absent, as a dict's was: `items` leaves it out.
"""

from __future__ import annotations

from typing import Final

LOGGED_IN_MS: Final = "logged_in_ms"
#: The fields a tally holds as attributes, in the order `items` lists them.
FIELDS: Final = ("logged_in_ms", "available_ms", "on_contact_ms", "wrap_up_ms", "paused_ms",
                 "handled", "ring_no_answer", "too_late", "duplicates")  # fmt: skip
#: The prefix of a reason's field: `paused_ms:<reason>`.
REASON_PREFIX: Final = "paused_ms:"


class AgentTally:
    """Counts by field name; see the module's docstring."""

    __slots__ = ("available_ms", "duplicates", "handled", "logged_in_ms", "on_contact_ms",
                 "paused_ms", "reasons", "ring_no_answer", "too_late", "wrap_up_ms")  # fmt: skip

    def __init__(self) -> None:
        self.logged_in_ms = 0
        self.available_ms = 0
        self.on_contact_ms = 0
        self.wrap_up_ms = 0
        self.paused_ms = 0
        self.handled = 0
        self.ring_no_answer = 0
        self.too_late = 0
        self.duplicates = 0
        #: `paused_ms:<reason>` -> milliseconds, none at zero; None until the first.
        self.reasons: dict[str, int] | None = None

    @classmethod
    def of(cls, fields: dict[str, int]) -> AgentTally:
        """A tally holding `fields` (a record's, or a dict of named ints)."""
        tally = cls()
        for field, amount in fields.items():
            tally.add(field, amount)
        return tally

    def add(self, field: str, amount: int) -> None:
        """Add `amount` to `field` (most frequent fields first)."""
        if field == "logged_in_ms":
            self.logged_in_ms += amount
        elif field == "on_contact_ms":
            self.on_contact_ms += amount
        elif field == "available_ms":
            self.available_ms += amount
        elif field == "wrap_up_ms":
            self.wrap_up_ms += amount
        elif field == "handled":
            self.handled += amount
        elif field == "paused_ms":
            self.paused_ms += amount
        elif field == "ring_no_answer":
            self.ring_no_answer += amount
        elif field == "too_late":
            self.too_late += amount
        elif field == "duplicates":
            self.duplicates += amount
        elif field.startswith(REASON_PREFIX):
            reasons = self.reasons
            if reasons is None:
                reasons = self.reasons = {}
            value = reasons.get(field, 0) + amount
            if value:
                reasons[field] = value
            else:
                reasons.pop(field, None)
        else:
            raise KeyError(f"no agent figure {field!r}")

    def get(self, field: str) -> int:
        """The count of `field` (0 when absent)."""
        if field == "logged_in_ms":
            return self.logged_in_ms
        if field == "on_contact_ms":
            return self.on_contact_ms
        if field == "available_ms":
            return self.available_ms
        if field == "wrap_up_ms":
            return self.wrap_up_ms
        if field == "handled":
            return self.handled
        if field == "paused_ms":
            return self.paused_ms
        if field == "ring_no_answer":
            return self.ring_no_answer
        if field == "too_late":
            return self.too_late
        if field == "duplicates":
            return self.duplicates
        reasons = self.reasons
        return 0 if reasons is None else reasons.get(field, 0)

    def items(self) -> list[tuple[str, int]]:
        """(field, count) of every field not at zero, in `as_dict` order."""
        return list(self.as_dict().items())

    def any(self) -> bool:
        """Whether any field is not at zero."""
        return bool(
            self.logged_in_ms or self.available_ms or self.on_contact_ms or self.wrap_up_ms
            or self.paused_ms or self.handled or self.ring_no_answer or self.too_late
            or self.duplicates or self.reasons
        )  # fmt: skip

    def as_dict(self) -> dict[str, int]:
        """The fields not at zero by name (a record's form): those of `FIELDS` in its order,
        then the reasons in the order first counted. Written out field by field: a drain
        builds one per changed bucket."""
        out: dict[str, int] = {}
        if self.logged_in_ms:
            out["logged_in_ms"] = self.logged_in_ms
        if self.available_ms:
            out["available_ms"] = self.available_ms
        if self.on_contact_ms:
            out["on_contact_ms"] = self.on_contact_ms
        if self.wrap_up_ms:
            out["wrap_up_ms"] = self.wrap_up_ms
        if self.paused_ms:
            out["paused_ms"] = self.paused_ms
        if self.handled:
            out["handled"] = self.handled
        if self.ring_no_answer:
            out["ring_no_answer"] = self.ring_no_answer
        if self.too_late:
            out["too_late"] = self.too_late
        if self.duplicates:
            out["duplicates"] = self.duplicates
        if self.reasons:
            out.update(self.reasons)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AgentTally) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"AgentTally({self.as_dict()!r})"
