"""The command line: argument parsing, loopback guard, and a real start-up."""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from simulator.cli import config_from, main, parser


def test_defaults_match_the_brief() -> None:
    cfg = config_from(parser().parse_args([]))
    assert (cfg.data.items, cfg.data.locations, cfg.data.contacts) == (50_000, 5, 10_000)
    assert (cfg.data.salesorders, cfg.data.invoices) == (20_000, 20_000)
    assert (cfg.limits.per_minute, cfg.limits.daily, cfg.limits.concurrency) == (100, 10_000, 10)
    assert cfg.webhooks.format == "json" and cfg.no_webhook_fraction == 0.1
    args = parser().parse_args(
        [
            "--port",
            "9000",
            "--stock-shape",
            "warehouses",
            "--webhook-format",
            "form",
            "--per-minute",
            "50",
        ]
    )
    cfg = config_from(args)
    assert (args.port, cfg.data.stock_shape, cfg.webhooks.format) == (9000, "warehouses", "form")
    assert cfg.limits.per_minute == 50


def test_remote_webhook_url_is_refused_without_the_flag() -> None:
    assert main(["--webhook-url", "http://198.51.100.7/hook", "--items", "1"]) == 2


async def test_python_m_simulator_starts_and_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--items",
        "20",
        "--contacts",
        "10",
        "--salesorders",
        "5",
        "--invoices",
        "5",
        "--locations",
        "2",
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        base = line.rsplit(" ", 1)[1]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/_sim/credentials") as resp:
                creds = await resp.json()
            assert creds["api_domain"] == base
            async with session.get(f"{base}/_sim/state/items?view=list") as resp:
                assert len((await resp.json())["records"]) == 20
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
