"""At-least-once webhook delivery with drops, duplicates, reordering, delay and retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from simulator.config import WebhookConfig
from simulator.hookformat import HookEvent, Outgoing, build_request
from simulator.stats import Stats

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    request: Outgoing
    attempt: int = 1


class Dispatcher:
    """Turns change events into webhook requests and delivers them in the background."""

    def __init__(self, *, config: WebhookConfig, stats: Stats, rng: random.Random) -> None:
        self.config = config
        self._stats = stats
        self._rng = rng
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=config.queue_size)
        self._sem = asyncio.Semaphore(config.concurrency)
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pending = 0  # jobs queued, held back, waiting to retry or in flight
        self._idle = asyncio.Event()
        self._idle.set()
        self.log: deque[dict[str, Any]] = deque(maxlen=1000)
        # Deliveries given up after the last attempt: changes the receiver never took.
        self.given_up: deque[dict[str, Any]] = deque(maxlen=10_000)

    def update(self, config: WebhookConfig) -> None:
        """Switch to new settings; queued jobs keep the request they were built with."""
        if config.concurrency != self.config.concurrency:
            self._sem = asyncio.Semaphore(config.concurrency)
        self.config = config

    async def start(self) -> None:
        """Open the HTTP session and start delivering."""
        self._session = aiohttp.ClientSession()
        self._pump_task = asyncio.create_task(self._pump())

    async def stop(self) -> None:
        """Stop delivering; undelivered jobs are abandoned."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = [t for t in (self._pump_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    @property
    def configured(self) -> bool:
        """Return True when some rule has a destination URL."""
        return self.config.url is not None or any(r.url for r in self.config.rules)

    @property
    def pending(self) -> int:
        """Return how many jobs are not yet delivered or given up."""
        return self._pending

    async def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is pending; return False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def submit(self, event: HookEvent) -> int:
        """Queue the webhooks that the matching rules send for an event; return how many."""
        cfg = self.config
        queued = 0
        for rule in cfg.rules:
            if rule.entity != event.entity or rule.action != event.action:
                continue
            url = rule.url or cfg.url
            if url is None:
                self._stats.webhooks["unconfigured"] += 1
                continue
            self._stats.webhooks["submitted"] += 1
            if cfg.drop_rate and self._rng.random() < cfg.drop_rate:
                self._stats.webhooks["dropped"] += 1  # lost under load: never sent, no retry
                continue
            job = _Job(build_request(cfg, rule, event, url))
            copies = 1
            if cfg.duplicate_rate and self._rng.random() < cfg.duplicate_rate:
                self._stats.webhooks["duplicated"] += 1
                copies = 2
            for _ in range(copies):
                delay = cfg.delay_ms / 1000
                if cfg.reorder_rate and self._rng.random() < cfg.reorder_rate:
                    self._stats.webhooks["reordered"] += 1
                    delay += cfg.reorder_hold_s  # later webhooks overtake this one
                self._add_pending()
                self._schedule(job, delay)
                queued += 1
        return queued

    def _add_pending(self) -> None:
        self._pending += 1
        self._idle.clear()

    def _done(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    def _schedule(self, job: _Job, delay: float) -> None:
        if delay <= 0:
            self._enqueue(job)
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def fire() -> None:
            if timer is not None:
                self._timers.discard(timer)
            self._enqueue(job)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)

    def _enqueue(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._stats.webhooks["overflow"] += 1
            self._done()

    async def _pump(self) -> None:
        while True:
            job = await self._queue.get()
            sem = self._sem
            await sem.acquire()
            task = asyncio.create_task(self._send(job, sem))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, job: _Job, sem: asyncio.Semaphore) -> None:
        req = job.request
        status: int | None = None
        error = ""
        try:
            self._stats.webhooks["sent"] += 1
            assert self._session is not None
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            try:
                async with self._session.request(
                    req.method,
                    req.url,
                    data=req.body,
                    headers=list(req.headers),
                    timeout=timeout,
                ) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = type(exc).__name__
            self.log.append(
                {
                    "change_seq": req.change_seq,
                    "entity": req.entity,
                    "action": req.action,
                    "record_id": req.record_id,
                    "attempt": job.attempt,
                    "status": status,
                    "error": error,
                }
            )
            self._settle(job, status)
        finally:
            sem.release()

    def _settle(self, job: _Job, status: int | None) -> None:
        cfg = self.config
        if status is not None and 200 <= status < 300:
            self._stats.webhooks["delivered"] += 1
            self._done()
        elif job.attempt < cfg.max_attempts:
            self._stats.webhooks["retried"] += 1
            schedule = cfg.retry_schedule_s
            delay = schedule[min(job.attempt, len(schedule)) - 1]  # 1, 2, 4, 8 s ... then flat
            self._schedule(replace(job, attempt=job.attempt + 1), delay)
        else:
            self._stats.webhooks["failed"] += 1
            req = job.request
            self.given_up.append({"change_seq": req.change_seq, "entity": req.entity,
                                  "record_id": req.record_id, "status": status,
                                  "at": time.time()})
            logger.info("webhook %s %s gave up after %d attempts", req_id(job), status, job.attempt)
            self._done()


def req_id(job: _Job) -> str:
    """Return a short description of a job for logs."""
    return f"{job.request.entity}/{job.request.action}/{job.request.record_id}"
