"""What a test may wait on in an in-process Zoho simulator."""

from __future__ import annotations

from typing import cast

from simulator.state import SimState


def requests_in_flight(state: SimState) -> int:
    """API requests the simulator is still answering (hung ones included: faults run inside
    the rate limiter's slot)."""
    usage = cast(dict[str, dict[str, int]], state.limiter.snapshot()["usage"])
    return sum(u["in_flight"] for u in usage.values())
