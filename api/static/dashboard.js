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

function when(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" })
    : null;
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
  $("last-sync").textContent = health.last_sync === undefined ? "–" : ago(health.last_sync);
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

// Topics whose partitions the operator opened, kept across refreshes.
const openTopics = new Set();

function num(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
}

// A partition without a commit reads "none": the broker's -1001 never reaches the page.
function committed(value) {
  return value === null || value === undefined ? "none" : num(value);
}

function queueRow(body, cls, cells) {
  const row = document.createElement("tr");
  row.className = cls;
  for (const [value, numeric] of cells) {
    const td = cell(row, value, numeric ? "num" : "");
    if (value instanceof Node) td.replaceChildren(value);
  }
  body.appendChild(row);
  return row;
}

function partitionsToggle(group, topic) {
  const key = `${group.group}|${topic.topic}`;
  const open = openTopics.has(key);
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `${topic.partition_count} ${open ? "▾" : "▸"}`;
  button.setAttribute("aria-expanded", String(open));
  button.setAttribute("aria-label",
    `${open ? "hide" : "show"} the ${topic.partition_count} partitions of ${topic.topic} for ${group.group}`);
  button.dataset.testid = `partitions-${group.group}-${topic.topic}`;
  button.addEventListener("click", () => {
    if (openTopics.has(key)) openTopics.delete(key); else openTopics.add(key);
    refresh();
  });
  return button;
}

function renderQueue(queue) {
  const eta = queue.eta_seconds === null ? "unknown" : duration(queue.eta_seconds);
  $("queue-summary").textContent =
    `waiting: ${num(queue.by_priority.realtime)} realtime, ${num(queue.by_priority.bulk)} bulk, ` +
    `${num(queue.by_priority.retry)} in retry; consuming ` +
    `${queue.consumption_rate_per_s.toFixed(1)} messages/s; time to drain ${eta}`;
  const body = $("queue-table").querySelector("tbody");
  body.replaceChildren();
  let total = 0;
  for (const group of queue.groups) {
    total += group.lag;
    const parts = group.topics.reduce((n, t) => n + t.partition_count, 0);
    const ends = group.topics.reduce((n, t) => n + t.end, 0);
    queueRow(body, "group", [
      [`${group.group} (${group.state}, ${group.members} members)`], [""], [parts, true],
      [""], [num(ends), true], [num(group.lag), true]]);
    for (const topic of group.topics) {
      const none = topic.uncommitted_partitions;
      const offset = topic.committed === null ? "none"
        : none ? `${num(topic.committed)} (${none} none)` : num(topic.committed);
      queueRow(body, "topic", [
        [topic.topic], [topic.priority], [partitionsToggle(group, topic), true],
        [offset, true], [num(topic.end), true], [num(topic.lag), true]]);
      if (!openTopics.has(`${group.group}|${topic.topic}`)) continue;
      for (const p of topic.partitions) {
        queueRow(body, "partition", [
          [`partition ${p.partition}`], [""], [""], [committed(p.committed), true],
          [num(p.end), true], [num(p.lag), true]]);
      }
    }
  }
  $("queue-total-lag").textContent = num(total);
}

function renderDead(page) {
  const body = $("dead-table").querySelector("tbody");
  body.replaceChildren();
  for (const d of page.items) {
    const row = document.createElement("tr");
    cell(row, d.id);
    cell(row, when(d.dead_at)).title = text(d.dead_at);
    cell(row, d.stage);
    cell(row, d.key);
    cell(row, d.error_message);
    cell(row, d.status);
    const td = document.createElement("td");
    if (d.status === "pending") {
      const button = document.createElement("button");
      button.textContent = "retry";
      button.dataset.testid = `retry-${d.id}`;
      button.setAttribute("aria-label", `retry dead letter ${d.id}`);
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
    cell(row, when(r.started_at)).title = text(r.started_at);
    cell(row, r.duration_s === null ? null : `${r.duration_s.toFixed(1)} s`);
    cell(row, r.seen);
    cell(row, r.changed);
    cell(row, r.failed);
    cell(row, r.error);
    const td = document.createElement("td");
    const link = document.createElement("a");
    link.textContent = "log";
    link.href = "#";
    link.setAttribute("aria-label", `download the log of run ${r.run_id}`);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      downloadLog(r.run_id);
    });
    td.appendChild(link);
    row.appendChild(td);
    body.appendChild(row);
  }
}

function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// Round steps for the axes: 1, 2 or 5 times a power of ten; whole minutes or hours in time.
function niceStep(span, ticks) {
  const raw = span / ticks, power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}
const TIME_STEPS_S = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

function clock(seconds, withSeconds) {
  return new Date(seconds * 1000).toLocaleTimeString("en-GB", {
    hour: "2-digit", minute: "2-digit", ...(withSeconds ? { second: "2-digit" } : {}) });
}

// A time chart: x is wall-clock time (epoch seconds), y starts at zero and carries `unit`.
function drawChart(canvas, points, { color, unit, fill, empty }) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  canvas.dataset.drawnWidth = String(w);
  ctx.font = "11px system-ui, sans-serif";
  const highest = points.length ? Math.max(...points.map((p) => p[1])) : 0;
  const yStep = niceStep(highest > 0 ? highest : 1, 4);
  const yMax = yStep * Math.max(1, Math.ceil(highest / yStep));
  const decimals = Math.max(0, -Math.floor(Math.log10(yStep)));
  const yTicks = [];
  for (let i = 0; i * yStep <= yMax * 1.0001; i += 1) {
    const v = i * yStep;
    yTicks.push([v, `${v.toLocaleString("en-US", { minimumFractionDigits: decimals,
      maximumFractionDigits: decimals })} ${unit}`]);
  }
  // The left margin fits the widest value label, so "1,000 /min" is never cut.
  const left = 8 + Math.max(...yTicks.map(([, label]) => ctx.measureText(label).width));
  const right = 12, top = 10, bottom = 24;
  const plotW = w - left - right, plotH = h - top - bottom;
  ctx.strokeStyle = "#8a8a8a";
  ctx.strokeRect(left, top, plotW, plotH);
  if (!points.length) {
    ctx.fillStyle = "#444";
    ctx.font = "13px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(empty, left + plotW / 2, top + plotH / 2);
    return;
  }
  // One point still gets a time span to sit in: a minute either side.
  let t0 = points[0][0], t1 = points[points.length - 1][0];
  if (t1 - t0 < 60) { t0 -= 60; t1 += 60; }
  const x = (t) => left + (plotW * (t - t0)) / (t1 - t0);
  const y = (v) => top + plotH - (plotH * v) / yMax;

  ctx.fillStyle = "#333";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [v, label] of yTicks) {
    ctx.strokeStyle = "#e4e4e4";
    ctx.beginPath(); ctx.moveTo(left + 1, y(v)); ctx.lineTo(left + plotW - 1, y(v)); ctx.stroke();
    ctx.fillText(label, left - 6, y(v));
  }
  const tStep = TIME_STEPS_S.find((s) => (t1 - t0) / s <= 6) || 86400;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let t = Math.ceil(t0 / tStep) * tStep; t <= t1; t += tStep) {
    ctx.strokeStyle = "#8a8a8a";
    ctx.beginPath(); ctx.moveTo(x(t), top + plotH); ctx.lineTo(x(t), top + plotH + 4); ctx.stroke();
    ctx.fillText(clock(t, tStep < 60), x(t), top + plotH + 6);
  }

  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
  ctx.stroke();
  if (fill) {
    ctx.lineTo(x(points[points.length - 1][0]), y(0));
    ctx.lineTo(x(points[0][0]), y(0));
    ctx.closePath();
    ctx.globalAlpha = 0.25;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }
  ctx.fillStyle = color;
  for (const [t, v] of points) {
    ctx.beginPath(); ctx.arc(x(t), y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.lineWidth = 1;
}

const CHARTS = [
  { id: "throughput", series: "throughput_per_min", color: "#1b7f4b", unit: "/min",
    fill: true, empty: "collecting samples (one every 10 s)", now: (v) => `${num(Math.round(v))} records/min now` },
  { id: "synctime", series: "sync_time_s", color: "#1f5fbf", unit: "s",
    fill: true, empty: "no completed sync run yet", now: (v) => `last run took ${duration(v)}` },
  { id: "errors", series: "error_rate_pct", color: "#b3261e", unit: "%",
    fill: true, empty: "collecting samples (one every 10 s)", now: (v) => `${v.toFixed(1)} % now` },
  { id: "zoho", series: "zoho_calls_per_min", color: "#7b3fa0", unit: "/min",
    fill: true, empty: "collecting samples (one every 10 s)", now: (v) => `${num(Math.round(v))} calls/min now` },
];

let lastHistory = null, lastNote = null;

// `note` replaces each chart's own empty message (say, while the token is missing).
function renderHistory(history, note) {
  lastHistory = history;
  lastNote = note;
  for (const chart of CHARTS) {
    const points = history[chart.series] || [];
    drawChart($(`chart-${chart.id}`), points, note ? { ...chart, empty: note } : chart);
    $(`chart-${chart.id}`).dataset.points = String(points.length);
    document.querySelector(`[data-testid="now-${chart.id}"]`).textContent =
      points.length ? chart.now(points[points.length - 1][1]) : "";
  }
}

// The counts a run reports as it goes; `total` is null while Zoho has not said how many.
function progressOf(run) {
  const known = (v) => (typeof v === "number" && v > 0 ? v : null);
  const total = known(run.total) ?? known(run.expected);
  const done = run.seen || 0;
  const elapsed = run.started_at ? (Date.now() - Date.parse(run.started_at)) / 1000 : 0;
  const rate = elapsed > 1 ? done / elapsed : null;
  const left = run.eta_s ?? run.eta_seconds ??
    (total !== null && rate ? Math.max(0, total - done) / rate : null);
  return { total, done, rate, left };
}

function renderActiveRuns(page) {
  const list = $("active-runs");
  list.replaceChildren();
  $("active-runs-empty").hidden = page.runs.length > 0;
  for (const run of page.runs) {
    const { total, done, rate, left } = progressOf(run);
    const item = document.createElement("li");
    item.dataset.testid = `active-run-${run.run_id}`;
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = `${run.run_type} sync of ${(run.entity_types || []).join(", ") || "all"}` +
      ` · run ${run.run_id.slice(0, 8)} · started ${ago(run.started_at)}`;
    title.title = run.run_id;
    const bar = document.createElement("progress");
    bar.id = `progress-${run.run_id}`;
    bar.setAttribute("aria-label", `progress of ${run.run_type} run ${run.run_id.slice(0, 8)}`);
    // Without a total the bar stays indeterminate (no value) rather than claiming 0 %.
    if (total !== null) {
      bar.max = total;
      bar.value = Math.min(done, total);
    }
    const counts = document.createElement("div");
    counts.className = "counts";
    counts.dataset.testid = `active-run-counts-${run.run_id}`;
    const parts = [total !== null
      ? `${num(done)} of ${num(total)} records (${Math.floor((100 * Math.min(done, total)) / total)} %)`
      : `${num(done)} records, total not known yet`];
    if (run.sent) parts.push(`${num(run.sent)} sent`);
    if (run.changed) parts.push(`${num(run.changed)} changed`);
    if (run.failed) parts.push(`${num(run.failed)} failed`);
    if (rate) parts.push(`${rate.toFixed(1)} records/s`);
    if (left !== null && total !== null) parts.push(`about ${duration(left)} left`);
    counts.textContent = parts.join(" · ");
    item.append(title, bar, counts);
    list.appendChild(item);
  }
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
    getJSON("/api/tds/sync-runs?status=started&limit=20").then(renderActiveRuns),
    getJSON("/api/tds/history").then(renderHistory),
  ];
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected");
  const locked = failed.some((r) => r.reason instanceof Unauthorized);
  if (locked) {
    renderHistory({}, "enter the API token to see the data");
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

// The charts are drawn at the canvas's size in pixels: draw again when it changes.
window.addEventListener("resize", () => lastHistory && renderHistory(lastHistory, lastNote));

renderHistory({}, "waiting for the first answer");
refresh();
setInterval(refresh, REFRESH_MS);
