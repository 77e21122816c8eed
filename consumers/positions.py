"""Where an assigned partition starts: the position PostgreSQL stored, unless an operator
moved the group back with Kafka's tools, or the log no longer holds that position.

PostgreSQL is the authority on what was applied; Kafka's committed offsets only mirror it.
The loop tags its own commits (metadata `tds-pg:<offset>`), so at assignment a commit
without the tag is someone else's: `kafka-consumer-groups.sh --reset-offsets` while the
group was stopped. One before the stored position asks to re-apply from there; one beyond
it would skip effects, and is not followed (PostgreSQL wins, and the loop says so).
A stored position outside [log start, log end] means the topic was recreated or
truncated: the partition restarts from the log start instead of waiting, silently, for
offsets the log will only reach with other events.
"""

from __future__ import annotations

from dataclasses import dataclass

OWN_TAG = "tds-pg:"


def own_metadata(offset: int) -> str:
    """The commit metadata that marks a commit as the loop's own."""
    return f"{OWN_TAG}{offset}"


@dataclass(frozen=True, slots=True)
class Marks:
    """What is known of one partition at assignment (`committed` None: no commit)."""

    stored: int | None
    committed: int | None
    metadata: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue from `offset` (None: nothing stored, from the log start); `ignored` is an
    operator's commit beyond the stored position, which is not followed."""

    offset: int | None
    ignored: int | None = None


@dataclass(frozen=True, slots=True)
class Reapply:
    """An operator's reset: re-apply from `offset`; events before `until` were applied
    already and are written again under the version rule, equal versions included."""

    offset: int
    until: int


@dataclass(frozen=True, slots=True)
class Restart:
    """The stored position is outside the log: start again at the log start `offset`."""

    offset: int
    stored: int
    reason: str


Start = Resume | Reapply | Restart


def plan(marks: Marks) -> Start:
    """Decide where one partition starts."""
    stored = marks.stored
    if stored is None:
        return Resume(None)
    if stored > marks.high:
        return Restart(marks.low, stored,
                       f"stored offset {stored} is beyond the log end {marks.high} "
                       "(topic recreated or truncated)")
    if stored < marks.low:
        return Restart(marks.low, stored,
                       f"stored offset {stored} is below the log start {marks.low} "
                       "(deleted by retention or truncated)")
    committed = marks.committed
    if committed is None or committed < 0 or marks.metadata.startswith(OWN_TAG):
        return Resume(stored)
    if committed < stored:
        return Reapply(max(committed, marks.low), stored)
    return Resume(stored, ignored=committed if committed > stored else None)
