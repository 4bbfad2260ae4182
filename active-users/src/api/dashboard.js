"use strict";
// The server writes the namespace and the fields into a JSON data block of the page (data,
// not script: the page's policy runs scripts from this origin only).
const CONFIG = JSON.parse(document.getElementById("config").textContent || "{}");
// Signed in: the sign-in page's one retry is done with, and a token in the link is not
// needed (nor kept in the address bar).
sessionStorage.removeItem("active_users_retried");
if (/(?:^#|&)token=/.test(location.hash)) history.replaceState(null, "", location.pathname + location.search);
const base = location.pathname.replace(/\/dashboard\/?$/, "");
const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString("en-US");
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
let cursor = null;     // the cursor of the page shown
let nextCursor = null; // the cursor of the next page
// Users (each value of the first indexed field once) by default; sessions lists every entry.
let view = CONFIG.users ? "users" : "sessions";

async function api(path) {
  const response = await fetch(base + path, { credentials: "same-origin", cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || ("HTTP " + response.status));
  return body;
}

function text(id, value) { $(id).textContent = value; }

// A bar per sampled minute (a day's bars are thinner than a pixel and read as an area).
function chart(id, points, spanMs) {
  const svg = $(id);
  const now = Date.now();
  const max = Math.max(1, ...points.map((p) => p.active));
  const width = Math.max(600 * 60e3 / spanMs, 1.5); // at least a visible line
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  for (const g of [10, 80, 150]) {
    const line = document.createElementNS(ns, "line");
    line.setAttribute("class", "grid");
    line.setAttribute("x1", 0); line.setAttribute("x2", 600);
    line.setAttribute("y1", g); line.setAttribute("y2", g);
    svg.append(line);
  }
  for (const p of points) {
    const right = 600 - (now - p.at - 60e3) / spanMs * 600;
    const height = Math.max(p.active / max * 140, p.active > 0 ? 1 : 0);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("class", "bar");
    bar.setAttribute("x", Math.max(0, right - width).toFixed(2));
    bar.setAttribute("width", (width >= 4 ? width * 0.85 : width).toFixed(2));
    bar.setAttribute("y", (150 - height).toFixed(2));
    bar.setAttribute("height", height.toFixed(2));
    const title = document.createElementNS(ns, "title");
    title.textContent = time(p.at) + ": " + fmt(p.active);
    bar.append(title);
    svg.append(bar);
  }
  svg.dataset.points = String(points.length);
  text(id + "-from", time(now - spanMs));
  text(id + "-max", "max " + fmt(max));
}

async function refreshCount() {
  const body = await api("/count");
  // Users (distinct values of the first indexed field) when there are any, else entries.
  const distinct = body.distinct || {};
  const users = CONFIG.users && distinct[CONFIG.users] !== undefined ? distinct[CONFIG.users] : null;
  const shown = users === null ? body.count : users;
  text("live-label", users === null ? "Active now" : "Active users now");
  text("live-count", fmt(shown));
  $("live-count").dataset.count = String(shown);
  $("live-count").dataset.entries = String(body.count);
  const parts = (users === null ? [] : [fmt(body.count) + " sessions"]).concat(
    Object.entries(distinct).filter(([k]) => k !== CONFIG.users).map(([k, v]) => fmt(v) + " distinct " + k));
  text("live-detail", parts.join(" · "));
}

let dayPeak = null; // the 24-hour peak as of the last full read
// The spans follow the history the trackers keep (one day by default; none when it is off).
const kept = CONFIG.history === undefined ? 86400 : CONFIG.history;
const hourSpan = Math.min(3600, kept), daySpan = Math.min(86400, kept);
async function refreshHistory(withDay) {
  if (kept === 0) {
    for (const id of ["peak", "unique-hour", "unique-day"]) text(id, "–");
    text("peak-at", "history is turned off");
    return;
  }
  const hour = await api("/history?span=" + hourSpan);
  chart("chart-hour", hour.points, hourSpan * 1e3);
  if (withDay) {
    const day = await api("/history?span=" + daySpan);
    chart("chart-day", day.points, daySpan * 1e3);
    dayPeak = day.peak;
  }
  // The last hour's minutes are part of the day: its peak may be newer than the day's read.
  const known = [dayPeak, hour.peak].filter(Boolean);
  const peak = known.length ? known.reduce((a, b) => (b.active > a.active ? b : a)) : null;
  if (peak) { text("peak", fmt(peak.active)); text("peak-at", "at " + time(peak.at) + " · sampled every 10 s"); }
  else { text("peak", "–"); text("peak-at", "no minute sampled yet"); }
  for (const [id, span] of [["unique-hour", hourSpan], ["unique-day", daySpan]]) {
    const u = await api("/unique?span=" + span);
    text(id, fmt(u.visitors));
    text(id + "-note", "since " + time(u.since) + " · ±" + (u.standard_error * 100).toFixed(2) + "%");
  }
}

async function refreshBreakdown() {
  const field = CONFIG.grouped && CONFIG.grouped[0];
  if (!field) { $("breakdown-empty").hidden = false; return; }
  text("breakdown-title", "Active by " + field);
  const body = await api("/by/" + encodeURIComponent(field));
  const rows = body.counts.slice(0, 10);
  const max = Math.max(1, ...rows.map((r) => r.count));
  $("breakdown").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const value = document.createElement("td"); value.textContent = r.value;
    const count = document.createElement("td"); count.textContent = fmt(r.count);
    const barCell = document.createElement("td");
    const bar = document.createElement("div"); bar.className = "meter";
    bar.style.width = (r.count / max * 100).toFixed(1) + "%";
    barCell.append(bar);
    tr.append(value, count, barCell);
    return tr;
  }));
}

function cell(value) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : value;
  return td;
}

function header(columns) {
  const head = document.createElement("tr");
  head.append(...columns.map((c) => { const th = document.createElement("th"); th.textContent = c; return th; }));
  $("entries-head").replaceChildren(head);
}

async function refreshEntries() {
  const paging = (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
  let rows, shown;
  if (view === "users") {
    const body = await api("/values/" + encodeURIComponent(CONFIG.users) + "?limit=20" + paging);
    const counted = body.values.some((v) => v.entries !== null);
    header([CONFIG.users].concat(counted ? ["sessions"] : [], ["last seen"]));
    rows = body.values.map((v) => {
      const tr = document.createElement("tr");
      tr.dataset.value = v.value;
      tr.append(cell(v.value), ...(counted ? [cell(fmt(v.entries))] : []), cell(new Date(v.last_seen).toLocaleTimeString()));
      return tr;
    });
    nextCursor = body.next;
    shown = rows.length + " users shown";
  } else {
    const body = await api("/?limit=20" + paging);
    const columns = CONFIG.columns || (body.data[0] ? Object.keys(body.data[0]) : []);
    header(columns);
    rows = body.data.map((entry) => {
      const tr = document.createElement("tr");
      tr.append(...columns.map((c) => cell(entry[c])));
      return tr;
    });
    nextCursor = body.next;
    shown = rows.length + " shown of " + fmt(body.count) + " sessions";
  }
  $("entries").replaceChildren(...rows);
  $("next").disabled = !nextCursor;
  $("first").disabled = !cursor;
  text("page-note", shown);
}

function showView(which) {
  view = which;
  cursor = null;
  $("view-users").setAttribute("aria-pressed", String(which === "users"));
  $("view-sessions").setAttribute("aria-pressed", String(which === "sessions"));
  text("entries-title", which === "users" ? "Active users" : "Active sessions");
  refreshEntries().catch((err) => { text("page-note", err.message); });
}

async function tick(withDay) {
  try {
    await Promise.all([refreshCount(), refreshBreakdown(), refreshEntries(), refreshHistory(withDay)]);
    const status = $("status");
    status.className = "status";
    status.textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.updated = String(Date.now());
  } catch (err) {
    const status = $("status");
    status.className = "status error";
    status.textContent = "cannot read the API: " + err.message;
  }
}

$("next").addEventListener("click", () => { cursor = nextCursor; refreshEntries(); });
$("first").addEventListener("click", () => { cursor = null; refreshEntries(); });
if (CONFIG.users) {
  $("views").hidden = false;
  $("view-users").addEventListener("click", () => showView("users"));
  $("view-sessions").addEventListener("click", () => showView("sessions"));
  text("entries-title", "Active users");
}
text("namespace", CONFIG.namespace ? "namespace " + CONFIG.namespace : "");
document.body.dataset.polls = "0";
document.body.dataset.pushes = "0";

// With presence on, the API pushes who arrives and leaves (`/events`): the numbers are read
// again when something changed, not on a timer; only the per-minute charts are polled.
let refreshing = null;
function refreshOnEvent() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    try {
      await Promise.all([refreshCount(), refreshBreakdown(), refreshEntries()]);
      document.body.dataset.pushes = String(Number(document.body.dataset.pushes) + 1);
      const status = $("status");
      status.className = "status";
      status.textContent = "live · updated " + new Date().toLocaleTimeString();
    } catch (err) {
      $("status").className = "status error";
      text("status", "cannot read the API: " + err.message);
    }
  }, 250);
}

function describe(entry) {
  const shown = Object.entries(entry || {}).filter(([, v]) => v !== null && v !== undefined);
  return shown.map(([k, v]) => k + " " + v).join(", ");
}

function addToFeed(change, what, at) {
  const item = document.createElement("li");
  item.className = change;
  item.textContent = new Date(at).toLocaleTimeString() + "  " + what + " " + change;
  item.dataset.change = change;
  $("feed").prepend(item);
  while ($("feed").children.length > 30) $("feed").lastElementChild.remove();
}

function onPresence(change, message) {
  let data;
  try { data = JSON.parse(message.data); } catch (_) { return; }
  // Users joining and leaving when the entries have a users field, else the entries.
  if (data.field !== undefined) {
    if (data.field === CONFIG.users) addToFeed(change, CONFIG.users + " " + data.value, data.at);
  } else if (!CONFIG.users) {
    addToFeed(change, describe(data.entry), data.at);
  }
  refreshOnEvent();
}

let ticks = 0;
tick(true);
// Without presence, or where the API cannot stream (the actix and rocket adapters answer 501,
// which closes the EventSource for good): the numbers are read every 3 s.
let polling = null;
function startPolling() {
  if (polling) return;
  polling = setInterval(() => {
    ticks += 1;
    document.body.dataset.polls = String(ticks);
    tick(ticks % 5 === 0);
  }, 3000);
}
if (CONFIG.presence && typeof EventSource === "function") {
  $("feed-card").hidden = false;
  const events = new EventSource(base + "/events");
  events.addEventListener("joined", (m) => onPresence("joined", m));
  events.addEventListener("left", (m) => onPresence("left", m));
  events.addEventListener("lagged", () => refreshOnEvent());
  events.addEventListener("open", () => { document.body.dataset.live = "open"; });
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) {
      // Refused, not interrupted: no live updates from this server.
      document.body.dataset.live = "unavailable";
      $("feed-card").hidden = true;
      startPolling();
      return;
    }
    document.body.dataset.live = "reconnecting";
    $("status").className = "status error";
    text("status", "live updates interrupted; reconnecting…");
  });
  // The charts are per minute: read every 15 s, the day's every minute.
  setInterval(() => {
    if (polling) return;
    ticks += 1;
    refreshHistory(ticks % 4 === 0).catch(() => {});
  }, 15000);
} else {
  startPolling();
}
