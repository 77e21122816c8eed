"""Where an assigned partition starts: PostgreSQL's position, an operator's reset before
it, or the log start when the stored position left the log."""

from __future__ import annotations

import pytest

from consumers.positions import Marks, Reapply, Restart, Resume, own_metadata, plan


def _marks(stored: int | None, committed: int | None = None, metadata: str = "",
           low: int = 0, high: int = 100) -> Marks:
    return Marks(stored=stored, committed=committed, metadata=metadata, low=low, high=high)


def test_nothing_stored_starts_at_the_log_start() -> None:
    assert plan(_marks(None, committed=40)) == Resume(None)


def test_own_commits_never_move_the_stored_position() -> None:
    # An own commit behind PostgreSQL is an asynchronous commit that did not land.
    assert plan(_marks(50, committed=30, metadata=own_metadata(30))) == Resume(50)
    assert plan(_marks(50, committed=50, metadata=own_metadata(50))) == Resume(50)
    assert plan(_marks(50)) == Resume(50)


@pytest.mark.parametrize("committed", [0, 10, 49])
def test_a_foreign_commit_before_the_stored_position_is_reapplied(committed: int) -> None:
    assert plan(_marks(50, committed=committed)) == Reapply(committed, until=50)


def test_a_reset_below_the_log_start_reapplies_from_the_log_start() -> None:
    assert plan(_marks(50, committed=2, low=20)) == Reapply(20, until=50)


def test_a_reset_forward_is_not_followed_but_reported() -> None:
    assert plan(_marks(50, committed=80)) == Resume(50, ignored=80)
    assert plan(_marks(50, committed=50)) == Resume(50)


def test_a_stored_position_outside_the_log_restarts_from_its_start() -> None:
    beyond = plan(_marks(500, committed=None, low=0, high=12))
    assert isinstance(beyond, Restart) and (beyond.offset, beyond.stored) == (0, 500)
    assert "beyond the log end 12" in beyond.reason
    below = plan(_marks(5, committed=5, metadata=own_metadata(5), low=30, high=90))
    assert isinstance(below, Restart) and below.offset == 30
    assert "below the log start 30" in below.reason
    assert plan(_marks(12, high=12)) == Resume(12)  # caught up exactly: inside
