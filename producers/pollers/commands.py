"""Manual runs: read `tds.commands` (sync, stock_sync) in the pollers' consumer group.

The commands topic has one partition, so one poller process reads commands at a time
and a rebalance hands the partition to another. A command's offset is committed once
its run is claimed in `poll_runs` (keyed by the requester's run_id), so a redelivered
command never runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from schemas.errors import CodecError
from schemas.events import Command, decode_event
from tds.kafka_group import GroupMember

logger = logging.getLogger(__name__)

HANDLED_KINDS = ("sync", "stock_sync")


class CommandMessage(Protocol):
    """The parts of a confluent_kafka.Message read here (tests pass a stub)."""

    def value(self) -> bytes | None: ...

    def error(self) -> Any: ...

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...


def decode_command(message: CommandMessage) -> Command | None:
    """The command in `message`, or None (logged) when it is not one this stage runs."""
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    raw = message.value()
    if raw is None:
        return None
    try:
        event = decode_event(raw, topic=message.topic(), partition=message.partition(),
                             offset=message.offset())
    except CodecError as exc:
        logger.error("skipping undecodable command at %s: %s", where, exc)
        return None
    if not isinstance(event, Command):
        logger.warning("skipping %s at %s: not a command", type(event).__name__, where)
        return None
    if event.kind not in HANDLED_KINDS:
        return None  # dead-letter retries belong to the consumers stage
    return event


class CommandListener:
    """Poll the commands topic from a private thread; hand each command to `handle`."""

    def __init__(self, config: dict[str, Any], topic: str,
                 handle: Callable[[Command], Awaitable[None]], *, poll_s: float = 0.5) -> None:
        self._config = config
        self._topic = topic
        self._handle = handle
        self._poll_s = poll_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tds-commands")

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set."""
        loop = asyncio.get_running_loop()
        member = GroupMember(self._config, [self._topic], name="commands")
        await loop.run_in_executor(self._executor, member.join)
        try:
            while not stop.is_set():
                fetched = await loop.run_in_executor(self._executor, member.fetch, 1,
                                                     self._poll_s)
                if not fetched:
                    continue
                message = fetched[0]
                command = decode_command(message)
                if command is not None:
                    logger.info("command %s: %s %s %s (run %s)", command.command_id,
                                command.kind, command.mode, ",".join(command.entity_types),
                                command.run_id)
                    await self._handle(command)
                # A refused commit is only logged: the run is claimed, a redelivery skipped.
                await loop.run_in_executor(self._executor, functools.partial(
                    member.commit, message=message, asynchronous=False,
                    failed="could not commit the command's offset"))
        finally:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._executor, member.close)
            self._executor.shutdown(wait=False)
