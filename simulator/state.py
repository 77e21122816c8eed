"""Everything one running simulator holds, wired together once."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiohttp import web

from simulator.changes import ChangeEngine
from simulator.clock import SimClock
from simulator.config import SimConfig, validate
from simulator.data import generate
from simulator.faults import Faults
from simulator.oauth import TokenService
from simulator.query import Lister
from simulator.ratelimit import RateLimiter
from simulator.render import Renderer
from simulator.stats import Stats
from simulator.store import Store
from simulator.webhooks import Dispatcher


@dataclass
class SimState:
    """The live parts of one simulator instance."""

    config: SimConfig
    clock: SimClock
    store: Store
    renderer: Renderer
    stats: Stats
    tokens: TokenService
    limiter: RateLimiter
    faults: Faults
    lister: Lister
    dispatcher: Dispatcher
    changes: ChangeEngine

    @classmethod
    def build(cls, config: SimConfig, clock: SimClock | None = None) -> SimState:
        """Validate config, generate the data set and wire every component."""
        validate(config)
        clock = clock or SimClock(config.clock_start_epoch_s)
        seed = config.data.seed
        store = generate(config.data, config.org)
        renderer = Renderer(store)
        stats = Stats()
        dispatcher = Dispatcher(
            config=config.webhooks, stats=stats, rng=random.Random(f"{seed}:webhooks")
        )
        return cls(
            config=config,
            clock=clock,
            store=store,
            renderer=renderer,
            stats=stats,
            tokens=TokenService(config=config.oauth, clock=clock, stats=stats, seed=seed),
            limiter=RateLimiter(
                limits=config.limits, clock=clock, offset_minutes=config.org.utc_offset_minutes
            ),
            faults=Faults(config=config.faults, rng=random.Random(f"{seed}:faults"), stats=stats),
            lister=Lister(),
            dispatcher=dispatcher,
            changes=ChangeEngine(
                store=store,
                renderer=renderer,
                dispatcher=dispatcher,
                stats=stats,
                clock=clock,
                no_webhook_fraction=config.no_webhook_fraction,
                log_size=config.change_log_size,
            ),
        )


STATE = web.AppKey("simulator_state", SimState)
