// The agents view and the tickets-and-surveys view of the wallboard, and the render loop.
"use strict";

function tenantsShown(map) {
  const l = state.layout;
  return [...map.keys()].filter((t) => !l.tenant || t === l.tenant).sort();
}

function figure(label, text, sub, extra) {
  const tile = el("div", "tile");
  const head = el("div", "head");
  head.append(el("span", "label", label), el("span", "badge"));
  tile.append(head, el("div", "value", text), el("div", "sub", sub || ""));
  tile.dataset.state = text === NO_VALUE ? "novalue" : "ok";
  if (extra) Object.assign(tile.dataset, extra);
  return tile;
}

function renderAgents(board) {
  const tenants = tenantsShown(state.agents);
  for (const tenant of tenants) {
    const model = state.agents.get(tenant);
    const panel = el("section", "agents");
    panel.dataset.tenant = tenant;
    const counts = {};
    for (const a of model.agents) counts[a.state] = (counts[a.state] || 0) + 1;
    const head = el("h2", "", `Agents · ${tenant}`);
    head.append(el("span", "tenant", Object.keys(AGENT_STATES).filter((s) => s !== "offline")
      .map((s) => `${AGENT_STATES[s]} ${counts[s] || 0}`).join("   ")));
    panel.append(head);
    const grid = el("div", "agent-grid");
    const order = Object.keys(AGENT_STATES);
    const agents = [...model.agents].sort((a, b) =>
      order.indexOf(a.state) - order.indexOf(b.state) || String(a.agent).localeCompare(b.agent));
    for (const a of agents) {
      const card = el("div", "agent");
      card.dataset.agentState = a.state;
      card.dataset.agent = a.agent;
      card.append(el("div", "name", a.agent));
      const label = AGENT_STATES[a.state] || a.state;
      card.append(el("div", "state", a.reason ? `${label}: ${a.reason}` : label));
      const time = el("div", "time", fmtDuration(a.time_in_state_seconds));
      card.append(time);
      if (a.time_in_state_seconds !== null) {
        card.dataset.ticks = "agent";
        card.dataset.base = a.time_in_state_seconds;
        card.dataset.asOf = a.as_of_ms;
      }
      card.append(el("div", "sub", `handled ${fmtCount(a.today.handled)} · occupancy ` +
        `${fmtPercent(a.today.occupancy)}`));
      grid.append(card);
    }
    panel.append(grid);
    board.append(panel);
  }
  if (!tenants.length) board.append(el("p", "empty", "no data"));
}

function renderTickets(board) {
  const tenants = [...new Set([...tenantsShown(state.tickets), ...tenantsShown(state.surveys)])];
  for (const tenant of tenants.sort()) {
    const panel = el("section", "family");
    panel.dataset.tenant = tenant;
    panel.append(el("h2", "", `Tickets & surveys · ${tenant}`));
    const tiles = el("div", "tiles");
    const t = state.tickets.get(tenant);
    if (t) {
      const n = t.now, d = t.today;
      const age = figure("Oldest open", fmtDuration(n.oldest_open_age_seconds), "age now");
      if (n.oldest_open_age_seconds !== null) {
        Object.assign(age.dataset, { ticks: "age", base: n.oldest_open_age_seconds,
          asOf: t.as_of_ms });
      }
      const overdue = (n.overdue_first_response || 0) + (n.overdue_resolution || 0);
      const late = figure("Overdue", fmtCount(overdue),
        `${fmtCount(n.overdue_first_response)} reply · ${fmtCount(n.overdue_resolution)} solve`);
      if (overdue > 0) { late.dataset.state = "red"; late.querySelector(".badge").textContent = "■"; }
      tiles.append(
        figure("Open tickets", fmtCount(n.open), "now"), age, late,
        figure("At risk", fmtCount((n.at_risk_first_response || 0) + (n.at_risk_resolution || 0)),
          "due soon"),
        figure("Created today", fmtCount(d.created), `solved ${fmtCount(d.solved)}`),
        figure("First reply", fmtDuration(d.frt_avg_seconds), "average today"),
        figure("One-touch", fmtPercent(d.fcr_rate), "resolved today"),
      );
    }
    const s = state.surveys.get(tenant);
    if (s) {
      for (const [window, label] of [["today", "today"], ["rolling_7d", "7 days"]]) {
        const all = s[window].all || {};
        tiles.append(
          figure(`CSAT ${label}`, fmtPercent(all.csat ?? null), `${fmtCount(all.csat_responses ?? 0)} responses`),
          figure(`NPS ${label}`, fmtCount(all.nps ?? null), `${fmtCount(all.nps_responses ?? 0)} responses`),
          figure(`CES ${label}`, all.ces_average == null ? NO_VALUE : all.ces_average.toFixed(1),
            `${fmtCount(all.ces_responses ?? 0)} responses`),
        );
      }
    }
    panel.append(tiles);
    board.append(panel);
  }
  if (!tenants.length) board.append(el("p", "empty", "no data"));
}

function render() {
  if (!state.layout) return;
  const board = document.getElementById("board");
  const fresh = document.createElement("main");
  fresh.id = "board";
  fresh.dataset.view = board.dataset.view;
  fresh.style.cssText = board.style.cssText;
  ({ queues: renderQueues, agents: renderAgents, tickets: renderTickets })[state.layout.view](fresh);
  board.replaceWith(fresh);
  tick();
}

start().catch((err) => showProblem(String(err)));
