// TDS dashboard: polls the admin API and renders with textContent only, so any string
// that came from Zoho (names with <script> or quotes) is shown as text, never as markup.
"use strict";

const REFRESH_MS = 2000;
// The admin API wants the bearer token for reads too. It is kept for this browser session
// only (sessionStorage: per tab, gone when it closes), never in localStorage or a cookie.
const TOKEN_KEY = "tds.apiToken";
const $ = (id) => document.getElementById(id);

function token() {
  return $("token").value.trim();
}

function authHeaders(extra) {
  const headers = { Accept: "application/json", ...(extra || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return headers;
}

class Unauthorized extends Error {}

function text(value) {
  return value === null || value === undefined ? "–" : String(value);
}

function cell(row, value, cls) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401) throw new Unauthorized(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function renderHealth(health) {
  const badge = $("health");
  badge.textContent = health.status;
  badge.className = `badge ${health.status}`;
  $("queue-size").textContent = text(health.queue_size);
  // Without the token the probe answers only its status.
  $("workers").textContent = health.workers_active === undefined
    ? "–" : `${health.workers_active} / ${health.workers_expected} healthy`;
  $("last-sync").textContent = ago(health.last_sync);
  $("last-sync").title = text(health.last_sync);
}

function renderStatus(status) {
  $("active-syncs").textContent = text(status.active_syncs);
  $("success-rate").textContent =
    status.success_rate === null ? "–" : `${(status.success_rate * 100).toFixed(1)}%`;
  $("dead-count").textContent = text(status.dead_letters.pending);
  const writes = status.outbound.commands;
  const pending = writes.accepted + writes.sending + writes.retrying;
  $("outbound").textContent =
    `${pending} · ${writes.applied} · ${writes.rejected} · ${writes.conflict}`;
  $("outbound").title = `dead ${writes.dead}; writer lag ${text(status.outbound.writer_lag)}`;
  const body = $("groups-table").querySelector("tbody");
  body.replaceChildren();
  for (const group of status.groups) {
    const row = document.createElement("tr");
    cell(row, group.group);
    cell(row, group.state, group.members > 0 ? "ok" : "bad");
    cell(row, group.members);
    cell(row, group.lag);
    body.appendChild(row);
  }
}

function renderQueue(queue) {
  const eta = queue.eta_seconds === null ? "–" : `${Math.round(queue.eta_seconds)} s`;
  $("queue-summary").textContent =
    `realtime lag ${queue.by_priority.realtime}, bulk lag ${queue.by_priority.bulk}, ` +
    `retry ${queue.by_priority.retry}; consuming ${queue.consumption_rate_per_s.toFixed(1)}/s; ` +
    `time to drain ${eta}`;
  const body = $("queue-table").querySelector("tbody");
  body.replaceChildren();
  for (const p of queue.partitions) {
    const row = document.createElement("tr");
    for (const v of [p.group, p.topic, p.priority, p.partition, p.committed, p.end, p.lag]) {
      cell(row, v);
    }
    body.appendChild(row);
  }
}

function renderDead(page) {
  const body = $("dead-table").querySelector("tbody");
  body.replaceChildren();
  for (const d of page.items) {
    const row = document.createElement("tr");
    cell(row, d.id);
    cell(row, d.dead_at);
    cell(row, d.stage);
    cell(row, d.key);
    cell(row, d.error_message);
    cell(row, d.status);
    const td = document.createElement("td");
    if (d.status === "pending") {
      const button = document.createElement("button");
      button.textContent = "retry";
      button.dataset.testid = `retry-${d.id}`;
      button.addEventListener("click", () => retry({ ids: [d.id] }));
      td.appendChild(button);
    }
    row.appendChild(td);
    body.appendChild(row);
  }
}

function renderRuns(page) {
  const body = $("runs-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of page.runs) {
    const row = document.createElement("tr");
    cell(row, r.run_id.slice(0, 8)).title = r.run_id;
    cell(row, r.run_type);
    cell(row, (r.entity_types || []).join(", "));
    cell(row, r.status, r.status === "failed" ? "bad" : r.status === "completed" ? "ok" : "");
    cell(row, r.started_at);
    cell(row, r.duration_s === null ? null : `${r.duration_s.toFixed(1)} s`);
    cell(row, r.seen);
    cell(row, r.changed);
    cell(row, r.failed);
    cell(row, r.error);
    const td = document.createElement("td");
    const link = document.createElement("a");
    link.textContent = "log";
    link.href = "#";
    link.addEventListener("click", (event) => {
      event.preventDefault();
      downloadLog(r.run_id);
    });
    td.appendChild(link);
    row.appendChild(td);
    body.appendChild(row);
  }
}

function drawChart(canvas, points, color) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#ccc";
  ctx.strokeRect(pad, 4, w - pad - 4, h - pad - 4);
  if (!points.length) return;
  const max = Math.max(1, ...points.map((p) => p[1]));
  ctx.fillStyle = "#555";
  ctx.font = "10px sans-serif";
  ctx.fillText(String(Math.round(max)), 2, 12);
  ctx.fillText("0", 2, h - pad);
  ctx.strokeStyle = color;
  ctx.beginPath();
  points.forEach(([, y], i) => {
    const x = pad + ((w - pad - 8) * i) / Math.max(1, points.length - 1);
    const yy = h - pad - ((h - pad - 8) * y) / max;
    if (i === 0) ctx.moveTo(x, yy); else ctx.lineTo(x, yy);
  });
  ctx.stroke();
}

function renderHistory(history) {
  drawChart($("chart-throughput"), history.throughput_per_min, "#2a7");
  drawChart($("chart-errors"), history.error_rate_pct, "#c33");
  drawChart($("chart-synctime"), history.sync_time_s, "#37c");
  drawChart($("chart-zoho"), history.zoho_calls_per_min, "#a5c");
}

// A link cannot carry the bearer header: fetch the log, then save it from memory.
async function downloadLog(runId) {
  const response = await fetch(`/api/tds/sync-runs/${encodeURIComponent(runId)}?format=log`,
                               { headers: authHeaders() });
  if (!response.ok) {
    $("sync-result").textContent = `log download failed: HTTP ${response.status}`;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const save = document.createElement("a");
  save.href = url;
  save.download = `sync-run-${runId}.log`;
  save.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function retry(body) {
  try {
    const result = await post("/api/tds/deadletter/retry", body);
    $("sync-result").textContent = `retry requested for ${result.requested} dead letter(s)`;
  } catch (err) {
    $("sync-result").textContent = `retry failed: ${err.message}`;
  }
  refresh();
}

async function refresh() {
  const jobs = [
    getJSON("/api/tds/health").then(renderHealth),
    getJSON("/api/tds/status").then(renderStatus),
    getJSON("/api/tds/queue").then(renderQueue),
    getJSON("/api/tds/deadletter?limit=50&status=pending").then(renderDead),
    getJSON("/api/tds/sync-runs?limit=100").then(renderRuns),
    getJSON("/api/tds/history").then(renderHistory),
  ];
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected");
  const locked = failed.some((r) => r.reason instanceof Unauthorized);
  if (locked) {
    $("updated").textContent = token()
      ? "the API token was refused: check it"
      : "enter the API token to see the data";
  } else {
    $("updated").textContent = failed.length
      ? `update failed: ${failed[0].reason.message}`
      : `updated ${new Date().toLocaleTimeString()}`;
  }
}

$("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
let tokenTimer = null;
$("token").addEventListener("input", () => {
  if (token()) sessionStorage.setItem(TOKEN_KEY, token());
  else sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(tokenTimer);
  tokenTimer = setTimeout(refresh, 300);
});

$("sync-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const entity = $("sync-entity").value;
  try {
    const result = await post("/api/tds/sync", {
      entity_type: entity === "all" ? null : entity,
      source: "zoho",
      mode: $("sync-mode").value,
    });
    $("sync-result").textContent = `sync started: run ${result.run_id}`;
  } catch (err) {
    $("sync-result").textContent = `sync refused: ${err.message}`;
  }
  refresh();
});

$("stock-sync").addEventListener("click", async () => {
  try {
    const result = await post("/api/tds/stock/sync", {});
    $("sync-result").textContent = `stock sync started: run ${result.run_id}`;
  } catch (err) {
    $("sync-result").textContent = `stock sync refused: ${err.message}`;
  }
});

$("retry-all").addEventListener("click", () => retry({ all: true }));

refresh();
setInterval(refresh, REFRESH_MS);
