"""The change engine: creates, edits, deletes and stock movements, with a change log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from simulator.clock import SimClock, format_ts
from simulator.entities import DOCUMENT_ENTITIES, ENTITIES
from simulator.errors import ControlError
from simulator.factories import Factory
from simulator.hookformat import HookEvent
from simulator.mutations import Editor, move_stock, set_fields
from simulator.render import Renderer
from simulator.stats import Stats
from simulator.store import Record, Store
from simulator.webhooks import Dispatcher

logger = logging.getLogger(__name__)

ACTIONS = ("created", "edited", "deleted", "stock")
# Relative weights of (entity, kind) for random changes: stock and order traffic dominate.
MIX: tuple[tuple[str, str, float], ...] = (
    ("items", "stock", 30),
    ("items", "edited", 10),
    ("items", "created", 2),
    ("items", "deleted", 0.5),
    ("contacts", "edited", 5),
    ("contacts", "created", 2),
    ("contacts", "deleted", 0.3),
    ("salesorders", "created", 8),
    ("salesorders", "edited", 8),
    ("salesorders", "deleted", 0.5),
    ("invoices", "created", 8),
    ("invoices", "edited", 8),
    ("invoices", "deleted", 0.5),
    ("customerpayments", "created", 4),
    ("customerpayments", "edited", 1),
    ("customerpayments", "deleted", 0.3),
    ("creditnotes", "created", 1),
    ("creditnotes", "edited", 1),
    ("creditnotes", "deleted", 0.2),
    ("bills", "created", 2),
    ("bills", "edited", 2),
    ("bills", "deleted", 0.2),
    ("vendorpayments", "created", 1),
    ("vendorpayments", "edited", 0.5),
    ("vendorpayments", "deleted", 0.2),
)
MAX_PER_TICK = 10_000  # bounds one tick of the background loop however high the rate


@dataclass(frozen=True)
class Change:
    """One applied change, as the change log and the control API report it."""

    seq: int
    entity: str  # list path, e.g. "items"
    id: str
    action: str  # created | edited | deleted (the webhook action)
    kind: str  # created | edited | deleted | stock
    webhook: bool  # False: made by an import or custom function, so no workflow fires
    source: str  # user | import | custom_function
    at: int  # epoch seconds
    last_modified_time: str

    def descriptor(self) -> dict[str, Any]:
        """Return the JSON form of the change."""
        return asdict(self)


class ChangeEngine:
    """Applies changes to the store, logs them and hands webhook events to the dispatcher."""

    def __init__(
        self,
        *,
        store: Store,
        renderer: Renderer,
        dispatcher: Dispatcher,
        stats: Stats,
        clock: SimClock,
        no_webhook_fraction: float,
        log_size: int,
    ) -> None:
        self.store = store
        self._renderer = renderer
        self._dispatcher = dispatcher
        self._stats = stats
        self._clock = clock
        self.no_webhook_fraction = no_webhook_fraction
        self.rate = 0.0
        self._rng = random.Random(f"{store.seed}:changes")
        self._factory = Factory(store, self._rng)
        self._editor = Editor(self._factory)
        self.log: deque[Change] = deque(maxlen=log_size)
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    def random_change(self) -> Change:
        """Apply one change drawn from the traffic mix."""
        entity, kind, _ = self._rng.choices(MIX, weights=[w for _, _, w in MIX])[0]
        if kind != "created" and not self.store.table(entity).records:
            kind = "created"
        return self.apply(entity, kind)

    def apply(
        self,
        entity: str,
        action: str,
        record_id: str | None = None,
        fields: dict[str, Any] | None = None,
        webhook: bool | None = None,
    ) -> Change:
        """Apply one change; with no record_id a random live record is chosen."""
        if entity not in DOCUMENT_ENTITIES:
            raise ControlError(f"entity {entity!r} is not one of {DOCUMENT_ENTITIES}")
        if action not in ACTIONS:
            raise ControlError(f"action {action!r} is not one of {ACTIONS}")
        if action == "stock" and entity != "items":
            raise ControlError("action 'stock' applies to items only")
        table = self.store.table(entity)
        now = int(self._clock.now())
        if action == "created":
            rec = self._factory.make(entity, table.next_seq, now, now)
            table.add(rec)
        else:
            rec = self._target(entity, record_id)
            if action == "deleted":
                table.remove(rec.id)
            else:
                if fields:
                    set_fields(entity, rec, fields, ENTITIES[entity].id_field)
                elif action == "stock":
                    move_stock(self._rng, rec)
                else:
                    self._editor.edit(entity, rec)
                self._touch(rec, now)
                table.touch()
        return self._record(entity, rec, action, now, webhook)

    def write(self, entity: str, rec: Record, action: str) -> Change:
        """Log a write made through the API and fire its webhooks (API writes run workflows).

        `rec` is already built or changed; this adds, removes or stamps it in its table.
        """
        table = self.store.table(entity)
        now = int(self._clock.now())
        if action == "created":
            table.add(rec)
        elif action == "deleted":
            table.remove(rec.id)
        else:
            self._touch(rec, now)
            table.touch()
        return self._record(entity, rec, action, now, webhook=True)

    def _target(self, entity: str, record_id: str | None) -> Record:
        table = self.store.table(entity)
        if record_id is None:
            rec = table.pick(self._rng, self.store.prefix)
            if rec is None:
                raise ControlError(f"no live {entity} record to change")
            return rec
        rec = table.records.get(record_id)
        if rec is None:
            raise ControlError(f"no live {entity} record with id {record_id!r}")
        return rec

    def _touch(self, rec: Record, now: int) -> None:
        # Zoho stamps whole seconds; a second edit within the same second still moves forward.
        rec.lm = max(now, rec.lm + 1)
        rec.data["last_modified_time"] = format_ts(rec.lm, self.store.org.utc_offset_minutes)

    def _record(
        self, entity: str, rec: Record, kind: str, now: int, webhook: bool | None
    ) -> Change:
        if webhook is None:
            webhook = self._rng.random() >= self.no_webhook_fraction
        source = "user" if webhook else self._rng.choice(("import", "custom_function"))
        action = "edited" if kind == "stock" else kind
        self._seq += 1
        change = Change(
            seq=self._seq,
            entity=entity,
            id=rec.id,
            action=action,
            kind=kind,
            webhook=webhook,
            source=source,
            at=now,
            last_modified_time=rec.data["last_modified_time"],
        )
        self.log.append(change)
        self._stats.changes[kind] += 1
        if not webhook:
            self._stats.webhooks["suppressed"] += 1
        elif not self._dispatcher.configured:
            self._stats.webhooks["unconfigured"] += 1  # skip rendering a snapshot nobody gets
        else:
            spec = ENTITIES[entity]
            event = HookEvent(
                entity=spec.hook_entity,
                action=action,
                record_id=rec.id,
                snapshot=self._renderer.full(entity, rec),
                change_seq=change.seq,
            )
            self._dispatcher.submit(event)
        return change

    def since(self, seq: int, limit: int) -> list[Change]:
        """Return logged changes after seq, oldest first."""
        return [c for c in self.log if c.seq > seq][:limit]

    # -- background traffic -------------------------------------------------------------

    def set_rate(self, rate: float) -> None:
        """Start, retune or (rate 0) stop background changes."""
        self.rate = rate
        if rate > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop background changes."""
        self.rate = 0.0
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        carry = 0.0
        while self.rate > 0:
            await asyncio.sleep(0.05)
            now = loop.time()
            carry += self.rate * (now - last)
            last = now
            due = min(int(carry), MAX_PER_TICK)
            carry -= due
            for _ in range(due):
                try:
                    self.random_change()
                except Exception:  # keep the traffic going; one bad change must not stop it
                    logger.exception("background change failed")
