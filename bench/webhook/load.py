"""Open-loop load generator: POST signed webhooks at a constant arrival rate, measure acks.

Run as its own process (`python -m bench.webhook.load URL --rate R --duration-s D`); it
prints one JSON summary on stdout. Each request's latency runs from its *scheduled* send
time to the end of the answer, so a stalled server is not hidden by a stalled client
(no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from simulator.signing import SIGNATURE_HEADER, sign

ENTITIES = (("item", "item_id"), ("salesorder", "salesorder_id"), ("invoice", "invoice_id"),
            ("contact", "contact_id"), ("bill", "bill_id"))


def webhook_pool(secret: str, size: int, seed: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """`size` distinct signed webhooks (query, body, headers) shaped like Zoho's default
    payload (about 600 bytes each)."""
    rng = random.Random(seed)
    pool = []
    for n in range(size):
        entity, id_field = ENTITIES[n % len(ENTITIES)]
        record = {
            id_field: str(4_600_000_000_000_000 + rng.randrange(10**9)),
            "name": f"Record {n} – Bägs small",
            "status": rng.choice(["active", "open", "draft", "sent"]),
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "rate": round(rng.uniform(1, 500), 2),
            "quantity": rng.randrange(1, 1000),
            "description": "x" * rng.randrange(100, 300),
            "created_time": "2025-11-01T09:00:00+0300",
            "last_modified_time": f"2025-11-13T10:{n % 60:02d}:00+0300",
        }
        body = orjson.dumps({entity: record})
        query = [("action", "edited")]
        headers = {"Content-Type": "application/json;charset=UTF-8",
                   SIGNATURE_HEADER: sign(secret, query, [], body)}
        pool.append(("action=edited", body, headers))
    return pool


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of an ascending list; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[str] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionResetError("server closed the connection"))

    def send(self, request: bytes) -> asyncio.Future[str]:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[:end + 4 + length]
        if b"connection: close" in head and self.transport is not None:
            self.transport.close()
            self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(head[9:12].decode())


class RawClient:
    """A lean HTTP/1.1 client (asyncio protocols, keep-alive, one request per connection at
    a time), so the load generator takes less of the shared CPUs than aiohttp's client."""

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    def request_bytes(self, query: str, body: bytes, headers: dict[str, str]) -> bytes:
        """The bytes of one POST."""
        lines = [f"POST {self._path}?{query} HTTP/1.1", f"Host: {self._host}:{self._port}",
                 f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def post(self, request: bytes) -> str:
        """Send one request; return the status code as text."""
        async with self._slots:
            while self._idle and self._idle[-1].closed:
                self._idle.pop()
            if self._idle:
                connection = self._idle.pop()
            else:
                _, connection = await asyncio.get_running_loop().create_connection(
                    _Connection, self._host, self._port)
                self._all.append(connection)
            status = await connection.send(request)
            if not connection.closed:
                self._idle.append(connection)
            return status

    async def close(self) -> None:
        """Close every connection."""
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()


async def run(url: str, *, rate: float, duration_s: float, warmup_s: float, secret: str,
              connections: int, timeout_s: float, seed: int, client: str) -> dict[str, Any]:
    """Send `rate` requests a second for warmup + duration; summarise the measured part."""
    pool = webhook_pool(secret, 2000, seed)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    every: Counter[str] = Counter()  # warm-up included: the success rate counts every request
    total = int((warmup_s + duration_s) * rate)
    warm = int(warmup_s * rate)
    late = 0.0  # worst lag of the sender behind its schedule
    raw = RawClient(url, connections)
    prepared = [raw.request_bytes(*entry) for entry in pool]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                    timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def send(index: int) -> str:
        if client == "raw":
            async with asyncio.timeout(timeout_s):
                return await raw.post(prepared[index % len(prepared)])
        query, body, headers = pool[index % len(pool)]
        async with session.post(f"{url}?{query}", data=body, headers=headers) as resp:
            await resp.read()
            return str(resp.status)

    async def one(index: int, scheduled: float) -> None:
        try:
            status = await send(index)
        except (aiohttp.ClientError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            status = type(exc).__name__
        every[status] += 1
        if index >= warm:
            latencies.append(loop.time() - scheduled)
            statuses[status] += 1

    try:
        tasks = []
        start = loop.time() + 0.05
        index = 0
        while index < total:
            now = loop.time()
            while index < total and start + index / rate <= now:
                scheduled = start + index / rate
                late = max(late, now - scheduled)
                tasks.append(asyncio.create_task(one(index, scheduled)))
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        measured_from = start + warm / rate
        await asyncio.gather(*tasks)
        finished = loop.time()
    finally:
        await session.close()
        await raw.close()
    latencies.sort()
    ok = statuses.get("200", 0)
    window = max(1e-9, finished - measured_from)
    return {
        "rate": rate, "duration_s": duration_s, "warmup_s": warmup_s, "client": client,
        "sent": len(latencies), "ok": ok, "statuses": dict(statuses),
        "sent_all": sum(every.values()), "ok_all": every.get("200", 0),
        "achieved_per_s": ok / window,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else math.nan) * 1000,
        "sender_lag_max_ms": late * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one rate, print the JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.webhook.load")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="raw: lean keep-alive HTTP/1.1 over asyncio streams (default); "
                             "aiohttp: aiohttp's ClientSession (costs more client CPU)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    summary = asyncio.run(run(args.url, rate=args.rate, duration_s=args.duration_s,
                              warmup_s=args.warmup_s, secret=args.secret,
                              connections=args.connections, timeout_s=args.timeout_s,
                              seed=args.seed, client=args.client))
    summary["wall_s"] = time.monotonic() - started
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
