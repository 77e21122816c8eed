"""The dashboard in real headless Chromium: it asks for the API token and keeps it for the
browser session only, its numbers match the API, "sync now" starts a run, "retry" moves a
dead letter back, hostile Zoho strings stay text."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from projections import dead_letters, sync_runs
from schemas.cloudevents import ce_headers
from schemas.events import SyncRunEvent
from schemas.topics import entity_key
from tds.retry import Origin, RetryPolicy, route_failure
from tests.integration.api.conftest import TOKEN, ApiHarness

AUTH = {"Authorization": f"Bearer {TOKEN}"}

HOSTILE = "<script>window.__pwned=1</script>\"'><img src=x onerror=window.__pwned=2>"


def _wait_text(browser: webdriver.Chrome, testid: str, check: Callable[[str], bool],
               timeout_s: float = 15) -> str:
    def ready(driver: webdriver.Chrome) -> str | bool:
        text = driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text
        return text if check(text) else False

    # Tables are re-rendered every refresh, so an element can go stale between reads.
    result = WebDriverWait(browser, timeout_s,
                           ignored_exceptions=[StaleElementReferenceException]).until(ready)
    return str(result)


def _click(browser: webdriver.Chrome, testid: str) -> None:
    # Find and click in one script: the element cannot go stale in between.
    clicked = browser.execute_script(
        "const e = document.querySelector(`[data-testid='${arguments[0]}']`);"
        "if (e) { e.click(); return true; } return false;", testid)
    assert clicked, f"no element {testid}"


async def _seed(api: ApiHarness, original: str) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    async with api.pool.acquire() as conn:
        await sync_runs.apply(conn, [SyncRunEvent(
            event_id="e1", run_id="run-hostile", status="failed", run_type="full",
            source="zoho", org_id="42", entity_types=["item"], at=now, started_at=now,
            failed=1, error=HOSTILE)])
        routed = route_failure(RetryPolicy(()), ce_headers("x.y", "/t"),
                               Origin(original, 0, 1, 0, "g", "streams"), ValueError(HOSTILE))
        row = dead_letters.row(topic="tds.deadletter", partition=0, offset=11,
                               timestamp_ms=1_700_000_000_000, key=entity_key("42", "item", "9"),
                               value=b"v", headers=routed.headers)
        await dead_letters.apply(conn, [row])
        return str(row[0])


async def test_dashboard(api: ApiHarness, browser: webdriver.Chrome,
                         topic_factory: Callable[..., str]) -> None:
    original = topic_factory("dash", partitions=1)
    dead_id = await _seed(api, original)
    base = str(api.client.make_url("/tds-admin"))
    await asyncio.to_thread(browser.get, base)

    # Without the token the page shows only the probe's status and asks for the token.
    await asyncio.to_thread(_wait_text, browser, "updated",
                            lambda t: t == "enter the API token to see the data")
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="dead-count"]').text == "–"
    token = browser.find_element(By.CSS_SELECTOR, '[data-testid="token"]')
    await asyncio.to_thread(token.send_keys, TOKEN)
    # Kept for this browser session only: sessionStorage, no localStorage, no cookie.
    assert browser.execute_script("return sessionStorage.getItem('tds.apiToken')") == TOKEN
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []

    # Numbers match the API.
    health = await (await api.client.get("/api/tds/health", headers=AUTH)).json()
    shown = await asyncio.to_thread(_wait_text, browser, "health", lambda t: t != "…")
    assert shown == health["status"]
    queue = await asyncio.to_thread(_wait_text, browser, "queue-size", lambda t: t != "–")
    assert queue == str(health["queue_size"])
    dead = await asyncio.to_thread(_wait_text, browser, "dead-count", lambda t: t != "–")
    assert dead == "1"
    writes = await asyncio.to_thread(_wait_text, browser, "outbound", lambda t: t != "–")
    assert writes == "0 · 0 · 0 · 0"  # no write-back command yet

    # Hostile strings from Zoho data are shown as text and never run.
    runs = await asyncio.to_thread(_wait_text, browser, "runs-table", lambda t: "run-" in t
                                   or "failed" in t)
    assert HOSTILE in runs
    table = await asyncio.to_thread(_wait_text, browser, "dead-table", lambda t: "streams" in t)
    assert HOSTILE in table
    assert await asyncio.to_thread(browser.execute_script, "return window.__pwned") is None

    # "Sync now" starts a run (a command reaches tds.commands and the page says so).
    await asyncio.to_thread(_click, browser, "sync-now")
    result = await asyncio.to_thread(_wait_text, browser, "sync-result",
                                     lambda t: t.startswith("sync started"))
    run_id = result.rsplit(" ", 1)[-1]
    assert len(run_id) == 36

    # "Retry" moves the dead letter back (it leaves the pending list).
    await asyncio.to_thread(_wait_text, browser, f"retry-{dead_id}", lambda t: t == "retry")
    await asyncio.to_thread(_click, browser, f"retry-{dead_id}")
    await asyncio.to_thread(_wait_text, browser, "sync-result",
                            lambda t: t.startswith("retry requested for 1"))
    after = await (await api.client.get("/api/tds/deadletter?status=retried",
                                        headers=AUTH)).json()
    assert [d["id"] for d in after["items"]] == [dead_id]
    await asyncio.to_thread(_wait_text, browser, "dead-count", lambda t: t == "0")

    # A reload in the same session keeps the token (the numbers come back without typing).
    await asyncio.to_thread(browser.refresh)
    await asyncio.to_thread(_wait_text, browser, "dead-count", lambda t: t == "0")
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="token"]').get_attribute(
        "value") == TOKEN
