// km3flow monitor page: draws the updates the server pushes over /ws (no reloads).
"use strict";
const km3 = { updates: 0, loadId: Math.random().toString(36).slice(2), selected: null,
              last: null };
window.km3 = km3;
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? `${path}?token=${encodeURIComponent(token)}` : path;
const config = { displaylogo: false, responsive: true };
const margin = { l: 50, r: 20, t: 10, b: 40 };
const time = (t) => t.map((s) => new Date(s * 1000));

function heatmap(u) {
  const h = u.heatmap;
  // each flag a little above or below the cell centre, so several on one DOM stay visible
  const flagStyle = { hrv: ["x", "#c0392b", "high-rate veto", -0.25],
                      fifo: ["triangle-up", "#e67e22", "FIFO almost full", 0],
                      udp_loss: ["square-open", "#8e44ad", "UDP packet loss", 0.25] };
  const traces = [{ type: "heatmap", x: h.dus, y: h.floors, z: h.rate_mhz,
                    customdata: h.dom_ids, colorscale: "Viridis", hoverongaps: false,
                    colorbar: { title: { text: "MHz" } },
                    hovertemplate: "DU %{x} floor %{y}<br>DOM %{customdata}<br>%{z:.3f} MHz" +
                                   "<extra></extra>" }];
  for (const [name, [symbol, color, label, dy]] of Object.entries(flagStyle)) {
    const pts = h.flags[name] || [];
    traces.push({ type: "scatter", mode: "markers", name: label, hoverinfo: "name",
                  x: pts.map((p) => p[0]), y: pts.map((p) => p[1] + dy),
                  marker: { symbol, color, size: 7, line: { width: 2, color } } });
  }
  Plotly.react("heatmap", traces, {
    margin, showlegend: false, uirevision: "keep",
    xaxis: { title: { text: "DU" }, type: "category" }, yaxis: { title: { text: "floor" }, dtick: 1 } }, config);
  const el = $("heatmap");
  el.dataset.ndoms = h.rate_mhz.flat().filter((v) => v !== null).length;
  el.dataset.updates = km3.updates;
}

async function showDom(domId) {
  km3.selected = domId;
  const r = await fetch(withToken(`api/dom/${domId}`));
  if (!r.ok) { $("pmt-title").textContent = `DOM ${domId}: ${await r.text()}`; return; }
  const d = await r.json();
  const flags = Object.entries(d.flags).filter(([, on]) => on).map(([k]) => k);
  $("pmt-title").textContent = `DOM ${d.dom_id} (DU ${d.du}, floor ${d.floor}): ` +
    `${(d.rate_hz / 1e6).toFixed(3)} MHz` + (flags.length ? ` — flags: ${flags.join(", ")}` : "");
  Plotly.react("pmt", [
    { type: "bar", x: d.pmt_rates_hz.map((_, i) => i), y: d.pmt_rates_hz.map((v) => v / 1e3),
      name: "PMT rate", hovertemplate: "channel %{x}: %{y:.2f} kHz<extra></extra>" },
    { type: "scatter", mode: "lines", x: time(d.history.time),
      y: d.history.rate_hz.map((v) => v / 1e6), name: "DOM rate (MHz)", xaxis: "x2",
      yaxis: "y2" }],
    { margin, showlegend: false, grid: { rows: 2, columns: 1, pattern: "independent" },
      xaxis: { title: { text: "PMT channel" } }, yaxis: { title: { text: "kHz" } },
      yaxis2: { title: { text: "MHz" } } }, config);
  $("pmt").dataset.dom = d.dom_id;
}

function triggers(u) {
  const t = time(u.triggers.time);
  const traces = [{ type: "scatter", mode: "lines", name: "all events", x: t,
                    y: u.triggers.event_rate_hz, line: { color: "#000", width: 2 } }];
  for (const [name, counts] of Object.entries(u.triggers.bits)) {
    // one line per bit, not stacked: an event sets several bits
    traces.push({ type: "scatter", mode: "lines", name, x: t, y: counts });
  }
  Plotly.react("triggers", traces, { margin, uirevision: "keep", yaxis: { title: { text: "Hz" } },
                                     legend: { orientation: "h" } }, config);
  Plotly.react("hits", [
    { type: "scatter", mode: "lines+markers", name: "hits per event", x: t,
      y: u.triggers.hits_per_event, connectgaps: false },
    { type: "scatter", mode: "lines", name: "summed DOM rate (MHz)", yaxis: "y2",
      x: time(u.total_rate.time), y: u.total_rate.rate_mhz }],
    { margin, uirevision: "keep", legend: { orientation: "h" }, yaxis: { title: { text: "hits" } },
      yaxis2: { title: { text: "MHz" }, overlaying: "y", side: "right" } }, config);
}

function eventDisplay(ev) {
  if (!ev) return;
  $("event-title").textContent = `Latest event: run ${ev.run}, frame ${ev.frame_index}, ` +
    `trigger counter ${ev.trigger_counter}, mask ${ev.trigger_mask}: ${ev.n_hits} hits, ` +
    `${ev.n_triggered_hits} triggered`;
  const dus = [...new Set(ev.du)].sort((a, b) => a - b);
  const palette = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#7f7f7f", "#ff7f0e", "#393b79"];
  const traces = [];
  for (const [k, du] of dus.entries()) {
    const color = palette[k % palette.length];
    const idx = ev.du.map((d, i) => (d === du ? i : -1)).filter((i) => i >= 0);
    const trig = idx.filter((i) => ev.triggered[i]);
    const other = idx.filter((i) => !ev.triggered[i]);
    traces.push({ type: "scatter", mode: "markers", name: `DU ${du}`, legendgroup: `${du}`,
                  x: other.map((i) => ev.time[i]), y: other.map((i) => ev.z[i]),
                  marker: { size: 5, opacity: 0.45, color } });
    traces.push({ type: "scatter", mode: "markers", name: `DU ${du} triggered`,
                  legendgroup: `${du}`, showlegend: false,
                  x: trig.map((i) => ev.time[i]), y: trig.map((i) => ev.z[i]),
                  marker: { size: 10, color, line: { width: 2, color: "#c0392b" } } });
  }
  Plotly.react("zt", traces, { margin, uirevision: "keep", xaxis: { title: { text: "time (ns)" } },
                               yaxis: { title: { text: ev.z_is } }, legend: { font: { size: 9 } } },
               config);
  const el = $("zt");
  el.dataset.nhits = ev.time.length;
  el.dataset.ntriggered = ev.triggered.filter(Boolean).length;
  el.dataset.frame = ev.frame_index;
  if (ev.doms3d) {
    $("event3d-section").hidden = false;
    Plotly.react("event3d", [
      { type: "scatter3d", mode: "markers", name: "DOMs", x: ev.doms3d.x, y: ev.doms3d.y,
        z: ev.doms3d.z, marker: { size: 2, color: "#bbb" }, hoverinfo: "skip" },
      { type: "scatter3d", mode: "markers", name: "hits", x: ev.hits3d.x, y: ev.hits3d.y,
        z: ev.hits3d.z,
        marker: { size: ev.triggered.map((t) => (t ? 6 : 3)), color: ev.time,
                  colorscale: "Jet", colorbar: { title: { text: "ns" } } } }],
      { margin: { l: 0, r: 0, t: 0, b: 0 }, uirevision: "keep", showlegend: false }, config);
  }
}

function status(u) {
  const c = $("connection");
  c.textContent = u.connection || (u.connected ? "connected" : "not connected");
  c.className = "state " + (u.connected ? "ok" : "bad");
  $("data-age").textContent = u.data_age_s === null ? "no data yet" : `${u.data_age_s.toFixed(1)} s`;
  $("n-doms").textContent = u.n_doms;
  $("n-slices").textContent = u.summaryslices;
  $("n-events").textContent = u.events;
  $("event-rate").textContent = u.event_rate_hz.toFixed(1);
  const note = $("geometry-note");
  note.hidden = u.geometry === "detector";
  note.textContent = "No detector file: DUs and floors are DOM ids in sorted order, 18 per DU " +
                     "(give --detector for the real layout).";
  const dropped = u.client ? u.client.dropped : 0;
  const d = $("dropped");
  d.hidden = dropped === 0;
  d.textContent = `this browser fell behind: ${dropped} updates dropped`;
  $("messages").textContent = u.messages.map(
    (m) => `${new Date(m.time * 1000).toISOString().slice(11, 19)} ${m.tag} ${m.text}`).join("\n");
}

// Redraw a plot only when what it shows changed: re-rendering every plot at every update
// keeps a slow machine's browser busy for nothing.
const drawn = {};
function changed(name, key) {
  const k = JSON.stringify(key);
  if (drawn[name] === k) return false;
  drawn[name] = k;
  return true;
}

function draw(u) {
  km3.updates += 1;
  km3.last = u;
  status(u);
  if (changed("heatmap", [u.summaryslices, u.n_doms])) heatmap(u);
  $("heatmap").dataset.updates = km3.updates;
  const t = u.triggers.time;
  if (changed("triggers", [t.length, t[t.length - 1], u.events, u.total_rate.time.length])) {
    triggers(u);
  }
  const ev = u.event;
  if (ev && changed("event", [ev.received, ev.frame_index, ev.trigger_counter])) {
    eventDisplay(ev);
  }
  if (km3.selected !== null && km3.updates % 4 === 0) showDom(km3.selected);
}

function connect() {
  const url = new URL(withToken("ws"), location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.onmessage = (msg) => draw(JSON.parse(msg.data));
  ws.onclose = () => {
    const c = $("connection");
    c.textContent = "lost the monitor server; retrying…";
    c.className = "state bad";
    setTimeout(connect, 1000);
  };
}

Plotly.newPlot("heatmap", [], { margin }, config).then(() => {
  $("heatmap").on("plotly_click", (ev) => {
    // the point may be a flag marker drawn over the cell: look the DOM up by DU and floor
    const h = km3.last && km3.last.heatmap;
    if (!h || !ev.points.length) return;
    const col = h.dus.indexOf(Number(ev.points[0].x));
    const row = h.floors.indexOf(Math.round(Number(ev.points[0].y)));
    const domId = col >= 0 && row >= 0 ? h.dom_ids[row][col] : null;
    if (domId !== null) showDom(domId);
  });
  connect();
});
