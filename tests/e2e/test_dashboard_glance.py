"""The dashboard read at a glance, in real headless Chromium: the queue monitor grouped by
consumer group and topic with partitions on demand and no broker sentinels, runs in
progress with their bars (indeterminate while the total is unknown), charts with points and
the sync-time chart filled, a name on every control and readable contrast. Full-page
screenshots go to .cache/screenshots/ (git-ignored); the run prints their paths."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

from projections import sync_runs
from schemas.events import SyncRunEvent
from tds.kafka import client_config
from tests.e2e.test_dashboard import _click, _wait_text
from tests.integration.api.conftest import TOKEN, ApiHarness

SHOTS = Path(__file__).resolve().parents[2] / ".cache" / "screenshots"

# Every control named: by a <label>, aria-label, or its own text.
UNLABELLED_JS = """
return [...document.querySelectorAll('input, select, button, progress, canvas, a, textarea')]
  .filter((e) => !((e.getAttribute('aria-label') || '').trim()
                   || [...(e.labels || [])].some((l) => l.textContent.trim())
                   || (e.tagName !== 'PROGRESS' && e.tagName !== 'CANVAS'
                       && e.textContent.trim())))
  .map((e) => e.outerHTML.slice(0, 120));
"""

# WCAG contrast of every visible text against the first opaque background behind it.
CONTRAST_JS = """
const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (e) => {
  for (; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0.5) return c;
  }
  return [255, 255, 255];
};
const low = [];
for (const e of document.body.querySelectorAll('*')) {
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !e.getClientRects().length) continue;
  const fg = lum(rgb(getComputedStyle(e).color)), bg = lum(background(e));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  if (ratio < 4.5) {
    const what = e.textContent.trim().slice(0, 30);
    low.push(`${e.tagName}.${e.className} ${ratio.toFixed(2)}: ${what}`);
  }
}
return low;
"""

# Whether the sync-time chart is coloured just above its x axis, below the line.
FILLED_JS = """
const c = document.getElementById('chart-synctime');
const ratio = c.width / c.clientWidth;
const x = Math.round((c.clientWidth / 2) * ratio);
const y = Math.round((c.clientHeight - 24 - 4) * ratio);
const [r, g, b, a] = c.getContext('2d').getImageData(x, y, 1, 1).data;
return a > 0 && (r < 240 || g < 240 || b < 240);
"""


# Every chart drawn again at its new width after a resize.
DRAWN_JS = """
return [...document.querySelectorAll('canvas')].every(
  (c) => c.dataset.drawnWidth === String(c.clientWidth));
"""


def _screenshot(browser: webdriver.Chrome, name: str) -> Path:
    """The whole page, not only the window, as a PNG under .cache/screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = browser.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True})
    path = SHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _wait(browser: webdriver.Chrome, script: str, timeout_s: float = 15) -> Any:
    return WebDriverWait(browser, timeout_s, ignored_exceptions=[
        StaleElementReferenceException]).until(lambda d: d.execute_script(script))


async def _seed_runs(api: ApiHarness, now: datetime) -> None:
    def run(run_id: str, status: str, started: datetime, **counts: Any) -> SyncRunEvent:
        at = started + timedelta(seconds=counts.pop("took_s", 0))
        return SyncRunEvent(event_id=f"e-{run_id}-{status}", run_id=run_id, status=status,
                            run_type=counts.pop("run_type", "full"), source="zoho", org_id="42",
                            entity_types=counts.pop("entities", ["item"]), at=at,
                            started_at=started, **counts)

    events = [run("run-known-total", "started", now - timedelta(minutes=2), expected=5000,
                  sent=2600, seen=1234, changed=1100, entities=["item", "contact"]),
              run("run-unknown-total", "started", now - timedelta(seconds=40), seen=300,
                  sent=300, run_type="incremental")]
    for i, took in enumerate((95, 40, 130, 60, 75)):
        events.append(run(f"run-done-{i}", "completed", now - timedelta(minutes=50 - 10 * i),
                          took_s=took, seen=500, run_type="stock"))
    async with api.pool.acquire() as conn:
        await sync_runs.apply(conn, events)


def _seed_kafka(bootstrap: str, topic: str, group: str) -> None:
    """Messages on all three partitions; a commit on partition 0 only."""
    producer = Producer(client_config(bootstrap))
    for partition, count in ((0, 10), (1, 7), (2, 3)):
        for i in range(count):
            producer.produce(topic, value=b"v", key=f"k{i}".encode(), partition=partition)
    assert producer.flush(30) == 0
    consumer = Consumer(client_config(bootstrap, **{"group.id": group,
                                                    "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        consumer.close()


def _seed_history(api: ApiHarness, now: float) -> None:
    """Six samples a minute apart with growing counters: five points per chart."""
    metrics = api.ctx.metrics
    for i in range(6):
        metrics.events_out.labels("tds.entity.synced").inc(300 + 120 * i)
        metrics.events_in.labels("zoho.raw.bulk", "streams").inc(400 + 100 * i)
        metrics.retries_scheduled.labels("streams", "1").inc(i)
        metrics.zoho_api_calls.labels("items", "200").inc(40 + 10 * i)
        api.ctx.history.sample(now=now - 60 * (5 - i))


async def test_dashboard_at_a_glance(api: ApiHarness, browser: webdriver.Chrome,
                                     kafka_bootstrap: str,
                                     topic_factory: Callable[..., str],
                                     group_factory: Callable[[str], str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    topic, group = topic_factory("glance", partitions=3), group_factory("glance")
    await _seed_runs(api, now)
    await asyncio.to_thread(_seed_kafka, kafka_bootstrap, topic, group)
    api.ctx.groups = {**api.ctx.groups, group: [topic]}
    _seed_history(api, now.timestamp())

    await asyncio.to_thread(browser.set_window_size, 1400, 1000)
    await asyncio.to_thread(browser.get, str(api.client.make_url("/tds-admin")))
    # Before the token: empty frames and the request for it (screenshot only).
    await asyncio.to_thread(_wait_text, browser, "updated", lambda t: "API token" in t)
    shots = [await asyncio.to_thread(_screenshot, browser, "dashboard-locked")]
    await asyncio.to_thread(browser.execute_script,
                            f"sessionStorage.setItem('tds.apiToken', '{TOKEN}'); location.reload()")

    # The queue monitor: one row per group, one per topic with its totals.
    table = await asyncio.to_thread(_wait_text, browser, "queue-table", lambda t: topic in t)
    assert f"{group} (" in table
    topic_row = next(line for line in table.splitlines() if line.startswith(topic))
    # priority, partitions, committed (partition 0 only; two without a commit), end, lag
    assert topic_row.split()[1:] == ["downstream", "3", "▸", "4", "(2", "none)", "20", "16"]
    assert await asyncio.to_thread(_wait_text, browser, "queue-total-lag",
                                   lambda t: t != "–") == "16"
    # Partitions on demand: none shown until the topic is opened.
    assert "partition 1" not in table
    await asyncio.to_thread(_click, browser, f"partitions-{group}-{topic}")
    table = await asyncio.to_thread(_wait_text, browser, "queue-table",
                                    lambda t: "partition 2" in t)
    partitions = [line.split() for line in table.splitlines() if line.startswith("partition")]
    assert partitions == [["partition", "0", "4", "10", "6"], ["partition", "1", "none", "7", "7"],
                          ["partition", "2", "none", "3", "3"]]
    page = await asyncio.to_thread(browser.execute_script, "return document.body.innerText")
    assert "-1001" not in page

    # Runs in progress: a determinate bar with a total, an indeterminate one without.
    known = await asyncio.to_thread(_wait, browser, """
        const p = document.getElementById('progress-run-known-total');
        return p && [p.value, p.max, p.hasAttribute('value')];""")
    assert known == [1234, 5000, True]
    unknown = await asyncio.to_thread(_wait, browser, """
        const p = document.getElementById('progress-run-unknown-total');
        return p && [p.hasAttribute('value'), p.position];""")
    assert unknown == [False, -1]  # indeterminate: no value, position -1
    counts = await asyncio.to_thread(_wait_text, browser, "active-run-counts-run-known-total",
                                     lambda t: bool(t))
    assert counts.startswith("1,234 of 5,000 records (24 %)") and "left" in counts
    counts = await asyncio.to_thread(_wait_text, browser, "active-run-counts-run-unknown-total",
                                     lambda t: bool(t))
    assert counts.startswith("300 records, total not known yet") and "left" not in counts

    # Charts: every series drawn, the sync-time chart filled under its line.
    points = await asyncio.to_thread(_wait, browser, """
        const n = ['throughput', 'synctime', 'errors', 'zoho'].map(
          (id) => Number(document.getElementById('chart-' + id).dataset.points || 0));
        return n.every((v) => v > 0) && n;""")
    assert points == [5, 5, 5, 5]
    assert await asyncio.to_thread(browser.execute_script, FILLED_JS) is True
    assert await asyncio.to_thread(_wait_text, browser, "now-synctime",
                                   lambda t: bool(t)) == "last run took 75 s"

    # A name on every control, readable contrast everywhere.
    assert await asyncio.to_thread(browser.execute_script, UNLABELLED_JS) == []
    assert await asyncio.to_thread(browser.execute_script, CONTRAST_JS) == []

    shots.append(await asyncio.to_thread(_screenshot, browser, "dashboard"))
    await asyncio.to_thread(browser.set_window_size, 900, 1000)
    await asyncio.to_thread(_wait, browser, DRAWN_JS)
    shots.append(await asyncio.to_thread(_screenshot, browser, "dashboard-narrow"))
    with capsys.disabled():
        print("\ndashboard screenshots: " + ", ".join(str(p) for p in shots))
