// Spillway local dashboard: polls /api/status every second and redraws the uPlot charts.
// The snapshot's shape is documented in spillway/dashboard/snapshot.py.
"use strict";
(function () {
  const POLL_MS = 1000;
  const QUEUES = ["high", "medium", "low", "heavy", "batch", "dlq"];
  const COLORS = { high: "#c62828", medium: "#ef6c00", low: "#1565c0", heavy: "#5d4037",
                   batch: "#00838f", dlq: "#6a1b9a",
                   accepted: "#1565c0", stored: "#2e7d32", p50: "#00838f", p95: "#ad1457" };
  const PALETTE = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037"];
  // Breaker levels for the step chart (resilience4j state names).
  const LEVEL = { CLOSED: 0, FORCED_CLOSED: 0, METRICS_ONLY: 0, DISABLED: 0, HALF_OPEN: 1,
                  OPEN: 2, FORCED_OPEN: 2 };
  const LEVEL_NAMES = ["CLOSED", "HALF_OPEN", "OPEN"];

  let latest = null;
  const charts = {};
  window.spillway = { charts: charts, latest: () => latest, updates: 0 };

  function stateClass(state) {
    if (state === "HALF_OPEN") return "s-half";
    if (state === "OPEN" || state === "FORCED_OPEN") return "s-open";
    return state ? "s-closed" : "";
  }

  // Vertical dashed lines at every breaker transition, labelled with the new state.
  function transitionMarks() {
    return { hooks: { draw: [function (u) {
      const marks = (latest && latest.transitions) || [];
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.font = (11 * devicePixelRatio) + "px sans-serif";
      for (const m of marks) {
        const x = u.valToPos(m.at, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        const color = m.to === "HALF_OPEN" ? COLORS.medium
          : (LEVEL[m.to] === 2 ? COLORS.high : COLORS.stored);
        ctx.strokeStyle = color; ctx.fillStyle = color;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        ctx.fillText(m.to, x + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
      }
      ctx.restore();
    }] } };
  }

  function width(el) { return Math.max(300, el.clientWidth); }

  function makeChart(id, yLabel, series, extra) {
    const el = document.getElementById(id);
    const opts = Object.assign({
      width: width(el), height: 220,
      scales: { x: { time: true } },
      axes: [{ label: "time (local)" }, { label: yLabel, size: 60 }],
      series: [{ label: "time" }].concat(series),
      plugins: [transitionMarks()],
      legend: { live: true },
    }, extra || {});
    const data = [[]].concat(series.map(() => []));
    const u = new uPlot(opts, data, el);
    charts[id.replace("chart-", "")] = u;
    return u;
  }

  function line(label, color, extra) {
    return Object.assign({ label: label, stroke: color, width: 2 }, extra || {});
  }

  // One series per slot pool; rebuilt when the pools change (a source that appears later).
  let slotPools = null;
  function slotLimit() {
    const slots = (latest && latest.slots) || {};
    return Math.max(0, ...Object.values(slots).map(v => v.limit || 0));
  }
  function buildSlots(pools) {
    if (charts.slots) { charts.slots.destroy(); delete charts.slots; }
    slotPools = pools.join(",");
    makeChart("chart-slots", "executions", (pools.length ? pools : ["(none)"]).map(
      (p, i) => line(p, PALETTE[i % PALETTE.length])), {
      // From 0 to at least the largest limit, so an idle pool reads as idle.
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, slotLimit(), 1)] } },
      // Executions are whole: ticks on whole numbers only.
      axes: [{ label: "time (local)" }, { label: "executions", size: 60,
                                           incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }],
    });
  }

  function buildCharts(snap) {
    makeChart("chart-rates", "deliveries / s", [
      line("accepted / s", COLORS.accepted), line("stored / s", COLORS.stored)]);
    makeChart("chart-depth", "messages", QUEUES.map(q => line(q === "dlq" ? "DLQ" : q, COLORS[q])));
    makeChart("chart-ack", "milliseconds", [line("p50", COLORS.p50), line("p95", COLORS.p95)]);
    buildSlots(Object.keys(snap.series.slots));
    makeChart("chart-breaker", "state", [line("breaker", COLORS.high,
      { paths: uPlot.paths.stepped({ align: -1 }), fill: "rgba(198,40,40,0.08)",
        value: (u, v) => v == null ? "–" : LEVEL_NAMES[v] })], {
      height: 150,
      scales: { x: { time: true }, y: { range: [-0.2, 2.3] } },
      axes: [{ label: "time (local)", space: 80 }, { label: "state", size: 90,
        splits: () => [0, 1, 2], values: (u, splits) => splits.map(v => LEVEL_NAMES[v] || "") }],
    });
  }

  // A tile of several numbers, each with its name: [[name, text], ...].
  function pairs(id, items) {
    const el = document.getElementById(id);
    if (!items.length) { el.textContent = "–"; return; }
    el.replaceChildren(...items.map(([k, v]) => {
      const span = document.createElement("span"); span.className = "pair";
      const label = document.createElement("small"); label.textContent = k;
      span.append(label, " ", v); return span;
    }));
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function update(snap) {
    latest = snap;
    if (!charts.rates) buildCharts(snap);
    const s = snap.series, t = s.t;
    charts.rates.setData([t, s.accepted_per_s, s.stored_per_s]);
    charts.depth.setData([t].concat(QUEUES.map(q => s.depth[q])));
    charts.ack.setData([t, s.ack_p50_ms, s.ack_p95_ms]);
    const pools = Object.keys(s.slots);
    if (pools.join(",") !== slotPools) buildSlots(pools);
    charts.slots.setData([t].concat(pools.length ? pools.map(p => s.slots[p]) : [t.map(() => null)]));
    charts.breaker.setData([t, s.breaker_state.map(st => st == null ? null : LEVEL[st])]);
    // Legends show the latest values unless the cursor is over a chart.
    for (const u of Object.values(charts)) {
      if (t.length && !(u.cursor.left >= 0)) u.setLegend({ idx: t.length - 1 });
    }

    const labels = document.getElementById("labels");
    labels.replaceChildren(...Object.entries(snap.labels).map(([k, v]) => {
      const span = document.createElement("span");
      const b = document.createElement("b"); b.textContent = v;
      span.append(k + " ", b); return span;
    }));
    // Health: the status section shared with `spillway status` (spillway/ops/status.py).
    const health = snap.health || {}, hb = document.getElementById("health-state");
    hb.textContent = health.status || "n/a";
    hb.className = "state " + ({healthy: "s-closed", degraded: "s-half", critical: "s-open"}[
      health.status] || "");
    document.getElementById("health-detail").textContent = (health.reasons || []).join("; ");
    const br = snap.breaker, badge = document.getElementById("breaker-state");
    badge.textContent = br ? br.state : "n/a";
    badge.className = "state " + stateClass(br && br.state);
    document.getElementById("breaker-detail").textContent = br
      ? `trips ${br.trips}` + (br.retry_after_s > 0 ? `, retry in ${fmt(br.retry_after_s)} s` : "")
        + `, ${snap.transitions.length} transition(s) in view` : "";
    const q = snap.queues;
    const depth = n => (q[n] ? q[n].total : null);
    document.getElementById("tile-accepted").textContent = fmt(snap.rates.accepted_per_s);
    document.getElementById("tile-stored-rate").textContent = fmt(snap.rates.stored_per_s);
    document.getElementById("tile-stored").textContent = fmt(snap.totals.stored, 0);
    pairs("tile-queued", ["high", "medium", "low", "heavy", "batch"].map(
      n => [n, fmt(depth(n), 0)]));
    document.getElementById("tile-dlq").textContent = fmt(depth("dlq"), 0);
    document.getElementById("tile-ack").textContent = snap.ack
      ? `${fmt(snap.ack.p50_ms)} / ${fmt(snap.ack.p95_ms)}` : "–";
    pairs("tile-slots", Object.entries(snap.slots).map(([k, v]) =>
      [k.replace(/^worker_/, ""), `${v.peak}${v.limit ? "/" + v.limit : ""}`]));

    const tbody = document.querySelector("#recent tbody");
    tbody.replaceChildren(...snap.recent.map(r => {
      const tr = document.createElement("tr");
      const cells = [new Date(r.stored_at * 1000).toLocaleTimeString(), r.event, r.action || "",
        r.repository || "", r.priority, r.attempts, fmt(r.delay_s, 3), r.delivery_id];
      cells.forEach((c, i) => {
        const td = document.createElement("td"); td.textContent = c;
        if (i === 5 || i === 6) td.className = "num";
        if (i === 7) td.className = "id";
        tr.append(td);
      });
      return tr;
    }));
    const errs = Object.entries(snap.errors);
    const box = document.getElementById("errors");
    box.hidden = errs.length === 0;
    box.textContent = errs.map(([k, v]) => `${k}: ${v}`).join("  ·  ");
    // The dashboard's own probes answering late (a loaded machine): grey, not an error.
    const stale = Object.entries(snap.stale || {});
    const grey = document.getElementById("stale");
    grey.hidden = stale.length === 0;
    grey.textContent = stale.length ? "stale (last reading shown; the dashboard's probe is slow, "
      + "not a fault of the stack): " + stale.map(([k, v]) => `${k}: ${v}`).join("  ·  ") : "";
    document.getElementById("updated").textContent =
      "updated " + new Date(snap.generated_at * 1000).toLocaleTimeString();
    window.spillway.updates += 1;
  }

  async function poll() {
    try {
      const resp = await fetch("/api/status", { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      update(await resp.json());
    } catch (err) {
      document.getElementById("updated").textContent = "connection lost: " + err.message;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  window.addEventListener("resize", () => {
    for (const u of Object.values(charts)) u.setSize({ width: width(u.root.parentNode), height: u.height });
  });
  poll();
})();
