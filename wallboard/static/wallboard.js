// The wallboard page: one Server-Sent Events stream, tiles redrawn on each change, the
// longest wait and times in state ticking every second, and a visible "stale" state.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("access_token");
const state = {
  layout: null, queues: new Map(), agents: new Map(), tickets: new Map(), surveys: new Map(),
  status: null, offsetMs: 0, lastMessageAt: 0, connected: false, staleSince: 0,
};
/** Every state has a shape and a word as well as a colour (the word is read out, and shown
 *  where the tile is wide enough). */
const STATE_LABEL = { amber: "▲", red: "■" };
const STATE_WORD = { amber: "amber", red: "red" };
const TILE_LABELS = {
  in_queue: "In queue", longest_wait: "Longest wait", service_level_interval: "SL interval",
  service_level_today: "SL today", offered: "Offered", answered: "Answered",
  abandoned: "Abandoned", asa: "ASA", agents: "Available",
};
const AGENT_STATES = {
  available: "● Available", on_contact: "▶ On contact", wrap_up: "✎ Wrap-up",
  paused: "Ⅱ Paused", offline: "○ Offline",
};

function serverNow() { return Date.now() + state.offsetMs; }

/** The instant figures are shown for: now, or when the screen went stale (nothing ticks on
 *  from figures nobody vouches for any more). */
function shownNow() { return state.staleSince || serverNow(); }

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function start() {
  const query = new URLSearchParams(params);
  const response = await fetch(`api/layout?${query}`, { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) { showProblem(body.error || response.statusText); return; }
  state.layout = body;
  drawNav();
  connect();
  setInterval(tick, 1000);
}

function authHeaders() { return token ? { Authorization: `Bearer ${token}` } : {}; }

function showProblem(text) {
  const box = document.getElementById("problem");
  box.hidden = !text;
  box.textContent = text || "";
}

function drawNav() {
  const nav = document.getElementById("views");
  for (const [view, label] of [["queues", "Queues"], ["agents", "Agents"],
    ["tickets", "Tickets & surveys"]]) {
    const link = el("a", view === state.layout.view ? "current" : "", label);
    const query = new URLSearchParams(params);
    query.set("view", view);
    link.href = `?${query}`;
    nav.append(link);
  }
  const l = state.layout;
  document.getElementById("scope").textContent = l.tenant ? `· ${l.tenant}` : "";
  const board = document.getElementById("board");
  board.dataset.view = l.view;
  if (l.columns) {
    board.style.setProperty("--columns", l.columns);
    board.style.setProperty("--column-min", "0");
  }
}

function connect() {
  const query = new URLSearchParams(params);
  query.delete("view");
  const source = new EventSource(`stream?${query}`);
  source.addEventListener("open", () => { state.connected = true; tick(); });
  source.addEventListener("error", () => {
    state.connected = false;
    tick();
    if (source.readyState === EventSource.CLOSED) { // refused: try again, not forever dead
      setTimeout(connect, 2000);
    }
  });
  const handle = (name, fn) => source.addEventListener(name, (ev) => {
    state.lastMessageAt = Date.now();
    fn(JSON.parse(ev.data));
    scheduleRender();
  });
  handle("snapshot", (snap) => {
    setStatus(snap.status);
    state.queues = new Map(snap.queues.map((q) => [`${q.tenant}/${q.queue}`, q]));
    for (const family of ["agents", "tickets", "surveys"]) {
      state[family] = new Map(snap[family].map((m) => [m.tenant, m]));
    }
  });
  handle("status", setStatus);
  handle("queues", (list) => {
    for (const q of list) state.queues.set(`${q.tenant}/${q.queue}`, q);
  });
  for (const family of ["agents", "tickets", "surveys"]) {
    handle(family, (m) => state[family].set(m.tenant, m));
  }
}

let renderPending = false;

/** Redraw once for a burst of messages (a flush can name many queues at once). */
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => { renderPending = false; render(); }, 0);
}

function setStatus(status) {
  state.status = status;
  state.offsetMs = status.server_now_ms - Date.now();
}

// -- freshness --------------------------------------------------------------------------------

function newestAsOf() {
  let newest = 0;
  for (const map of [state.queues, state.agents, state.tickets, state.surveys]) {
    for (const m of map.values()) newest = Math.max(newest, m.as_of_ms || 0);
  }
  return newest;
}

/** Why the screen cannot be trusted now, or "" when it is live. */
function staleReason() {
  if (!state.connected) return "wallboard server unreachable";
  if (Date.now() - state.lastMessageAt > 15000) return "no message from the server";
  if (!state.status || state.status.redis !== "up") return "Redis unreachable";
  const newest = newestAsOf();
  if (newest && serverNow() - newest > state.layout.stale_seconds * 1000) {
    return "no new figures";
  }
  return "";
}

function tick() {
  if (!state.layout) return;
  const reason = staleReason();
  if (reason && !state.staleSince) state.staleSince = serverNow();
  if (!reason) state.staleSince = 0;
  const newest = newestAsOf();
  document.body.dataset.connection = reason ? "stale" : "live";
  document.getElementById("health").textContent = reason ? `⚠ STALE: ${reason}` : "● LIVE";
  document.getElementById("as-of").textContent = newest ? `figures as of ${fmtClock(newest)}`
    : "no data";
  for (const node of document.querySelectorAll("[data-ticks]")) updateTicking(node);
  fitValues();
}

/** Shrink a figure that would overflow its tile (a long duration in a narrow column). */
function fitValues() {
  for (const node of document.querySelectorAll(".tile .value")) {
    node.style.fontSize = "";
    let size = parseFloat(getComputedStyle(node).fontSize);
    while (node.scrollWidth > node.clientWidth && size > 12) {
      size *= 0.9;
      node.style.fontSize = `${size}px`;
    }
  }
}

// -- queues -----------------------------------------------------------------------------------

function visibleQueues() {
  const l = state.layout;
  const members = l.queues || [...state.queues.keys()].filter(
    (m) => !l.tenant || m.startsWith(`${l.tenant}/`)).sort();
  return members;
}

function thresholdsFor(member) {
  return state.layout.queue_thresholds[member] || state.layout.thresholds;
}

/** The current interval and today of a queue as of now: an interval (or day) that has ended
 *  since the queue's last write had nothing in it (docs/redis-keys.md). */
function windowsNow(q) {
  const now = serverNow();
  const empty = (w) => ({ ...w, offered: 0, answered: 0, abandoned: 0, service_level: null,
    asa_seconds: null, abandonment_rate: null });
  let interval = q.current_interval;
  if (interval.end && now >= Date.parse(interval.end)) interval = empty(interval);
  let today = q.today;
  if (today.start && localDate(now, q.time_zone) !== today.start.slice(0, 10)) today = empty(today);
  return { interval, today };
}

function tileSpecs(q, member) {
  const t = thresholdsFor(member);
  const { interval, today } = windowsNow(q);
  const sl = (w, label) => ({
    label, value: w.service_level, text: fmtPercent(w.service_level),
    state: thresholdState(w.service_level, t.service_level, w.service_level_target),
    sub: w.service_level_target === null ? "" :
      `target ${fmtPercent(w.service_level_target)}`,
  });
  const count = (name, label) => ({
    label, value: interval[name], text: fmtCount(interval[name]),
    state: "ok", sub: `today ${fmtCount(today[name])}`,
  });
  const a = q.agents;
  return {
    in_queue: { label: "In queue", value: q.live.in_queue, text: fmtCount(q.live.in_queue),
      state: thresholdState(q.live.in_queue, t.in_queue), sub: "now" },
    longest_wait: { label: "Longest wait", ticks: true, sub: "now" },
    service_level_interval: sl(interval, "SL interval"),
    service_level_today: sl(today, "SL today"),
    offered: count("offered", "Offered"),
    answered: count("answered", "Answered"),
    abandoned: { ...count("abandoned", "Abandoned"),
      state: thresholdState(interval.abandonment_rate, t.abandonment_rate),
      sub: `${fmtPercent(interval.abandonment_rate)} · today ${fmtCount(today.abandoned)}` },
    asa: { label: "ASA", value: interval.asa_seconds, text: fmtDuration(interval.asa_seconds),
      state: thresholdState(interval.asa_seconds, t.asa_seconds),
      sub: `today ${fmtDuration(today.asa_seconds)}` },
    agents: a ? { label: "Available", value: a.available, text: fmtCount(a.available),
      state: thresholdState(a.available, t.agents_available),
      sub: `${a.on_contact} on contact · ${a.wrap_up} wrap · ${a.paused} paused` }
      : { label: "Available", value: null, text: NO_VALUE, state: "nodata", sub: "agents" },
  };
}

function drawTile(name, spec) {
  const tile = el("div", "tile");
  tile.dataset.tile = name;
  const head = el("div", "head");
  head.append(el("span", "label", spec.label), el("span", "badge"));
  tile.append(head, el("div", "value"), el("div", "sub", spec.sub));
  if (spec.ticks) {
    tile.dataset.ticks = "longest_wait";
  } else {
    setTile(tile, spec.text, spec.state, spec.value);
  }
  return tile;
}

/** Show a figure: "no data" before the queue has any, "–" for a figure without a value. */
function setTile(tile, text, tileState, value) {
  const node = tile.querySelector(".value");
  const unit = tileState !== "nodata" && /^([\d.:]+)(%|s)$/.exec(text);
  if (unit) { // the unit smaller than the figure: "100%" fits a narrow tile
    node.textContent = unit[1];
    node.append(el("span", "unit", unit[2]));
  } else {
    node.textContent = tileState === "nodata" ? "no data" : text;
  }
  tile.dataset.state = tileState;
  tile.dataset.value = value === null || value === undefined ? "" : String(value);
  const badge = tile.querySelector(".badge");
  badge.textContent = STATE_LABEL[tileState] || "";
  badge.title = STATE_WORD[tileState] || "";
  badge.setAttribute("aria-label", STATE_WORD[tileState] || "");
}

/** The longest wait now: the figure as of the queue's write plus the time since (while
 *  somebody waits), so it counts every second between the worker's writes. */
function updateTicking(tile) {
  const member = tile.closest("[data-queue]")?.dataset.queue;
  if (tile.dataset.ticks === "longest_wait") {
    const q = state.queues.get(member);
    if (!q) { setTile(tile, NO_VALUE, "nodata", null); return; }
    const waiting = q.live.in_queue > 0;
    const seconds = waiting
      ? q.live.longest_wait_seconds + Math.max(0, shownNow() - q.as_of_ms) / 1000 : 0;
    setTile(tile, fmtDuration(seconds), thresholdState(seconds,
      thresholdsFor(member).longest_wait_seconds), seconds);
  } else if (tile.dataset.ticks === "agent") {
    const since = Number(tile.dataset.base) +
      Math.max(0, shownNow() - Number(tile.dataset.asOf)) / 1000;
    tile.querySelector(".time").textContent = fmtDuration(since);
  } else if (tile.dataset.ticks === "age") {
    const age = Number(tile.dataset.base) +
      Math.max(0, shownNow() - Number(tile.dataset.asOf)) / 1000;
    tile.querySelector(".value").textContent = fmtDuration(age);
  }
}

function renderQueues(board) {
  for (const member of visibleQueues()) {
    const q = state.queues.get(member);
    const panel = el("section", "queue");
    panel.dataset.queue = member;
    const head = el("h2", "", member.split("/")[1]);
    head.append(el("span", "tenant", state.layout.tenant ? "" : member.split("/")[0]));
    panel.append(head);
    const tiles = el("div", "tiles");
    if (q) {
      panel.dataset.asOfMs = q.as_of_ms;
      const specs = tileSpecs(q, member);
      for (const name of state.layout.tiles) tiles.append(drawTile(name, specs[name]));
    } else {
      for (const name of state.layout.tiles) {
        const tile = drawTile(name, { label: TILE_LABELS[name], sub: "" });
        delete tile.dataset.ticks;
        setTile(tile, NO_VALUE, "nodata", null);
        tiles.append(tile);
      }
    }
    panel.append(tiles);
    board.append(panel);
  }
  if (!visibleQueues().length) board.append(el("p", "empty", "no data"));
}
