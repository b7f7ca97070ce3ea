// The dashboard: polls /api/status once a second and keeps one live view per camera.
// Live views fetch snapshot.jpg?after=SEQ in a loop (the server answers when a newer frame
// exists): unlike one MJPEG <img> per camera, this never holds one of the browser's six
// connections per server for good, so any number of cameras and the status poll share them.
// Everything comes from this server; names are put in the page as text, never as HTML.
"use strict";

const STATUS_EVERY_MS = 1000;
const cards = new Map();  // camera name -> {root, fields, view}

function el(root, selector) { return root.querySelector(selector); }

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function classList(counts) {
  const entries = Object.entries(counts || {});
  if (!entries.length) return "none";
  return entries.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, v]) => `${k} ${v}`).join(", ");
}

class LiveView {
  // One camera's picture: the newest frame, fetched again as soon as a newer one exists.
  constructor(img, ageLabel, url) {
    this.img = img; this.ageLabel = ageLabel; this.url = url;
    this.seq = 0; this.objectUrl = null; this.running = false; this.ended = false;
  }
  start() {
    if (this.running || this.ended || !this.url) return;
    this.running = true;
    this.loop();
  }
  async loop() {
    while (this.running && !document.hidden) {
      try {
        const response = await fetch(`${this.url}?after=${this.seq}`, { cache: "no-store" });
        if (response.status === 404) { this.running = false; this.ended = true; return; }
        if (!response.ok) { await sleep(1000); continue; }
        const seq = Number(response.headers.get("X-Frame-Seq") || 0);
        const age = response.headers.get("X-Frame-Age-Ms");
        const blob = await response.blob();
        if (seq !== this.seq) {
          const previous = this.objectUrl;
          this.objectUrl = URL.createObjectURL(blob);
          this.img.src = this.objectUrl;
          if (previous) URL.revokeObjectURL(previous);
          this.seq = seq;
          this.ageLabel.textContent = age ? `${Math.round(Number(age))} ms old` : "";
        } else {
          await sleep(250);  // nothing newer (the camera is finished or reconnecting)
        }
      } catch (err) {
        await sleep(1000);  // the server is away: the status poll says so
      }
    }
    this.running = false;
  }
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function card(camera) {
  let entry = cards.get(camera.name);
  if (entry) return entry;
  const template = document.getElementById("camera-card");
  const root = template.content.firstElementChild.cloneNode(true);
  el(root, ".name").textContent = camera.name;
  const img = el(root, "img.live");
  img.alt = `live view of ${camera.name}`;
  const view = new LiveView(img, el(root, ".age"), camera.views && camera.views.snapshot);
  const unavailable = camera.views && camera.views.unavailable;
  if (unavailable) {  // --engine ray: the frames stay on the worker nodes; say so instead of a picture
    const note = document.createElement("p");
    note.className = "no-view";
    note.textContent = unavailable;
    img.replaceWith(note);
  }
  const links = el(root, ".view-links");
  for (const [label, key] of [["MJPEG stream", "mjpeg"], ["snapshot", "snapshot"], ["HLS", "hls"]]) {
    const href = camera.views && camera.views[key];
    if (!href) continue;
    const a = document.createElement("a");
    a.href = href; a.textContent = label; a.target = "_blank"; a.rel = "noopener";
    links.appendChild(a);
  }
  document.getElementById("cameras").appendChild(root);
  entry = { root, view };
  cards.set(camera.name, entry);
  view.start();
  return entry;
}

function analyticsTable(analytics) {
  // {"zones": {name: {occupancy, entries, exits}}, "lines": {name: {direction: {label: n}}}}
  const table = document.createElement("table");
  const row = (cells, header = false) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement(header ? "th" : "td");
      td.textContent = c;
      tr.appendChild(td);
    }
    table.appendChild(tr);
  };
  const zones = Object.entries(analytics.zones || {});
  if (zones.length) {
    row(["zone", "inside", "entries", "exits"], true);
    for (const [name, z] of zones) row([name, z.occupancy, z.entries, z.exits]);
  }
  const lines = Object.entries(analytics.lines || {});
  if (lines.length) {
    row(["line", "direction", "counts"], true);
    for (const [name, directions] of lines) {
      for (const [direction, counts] of Object.entries(directions || {})) row([name, direction, classList(counts)]);
    }
  }
  return table;
}

function render(status) {
  const names = status.cameras.map((c) => c.name);
  const streaming = status.cameras.filter((c) => c.state === "streaming").length;
  document.getElementById("summary").textContent =
    `${names.length} camera${names.length === 1 ? "" : "s"}, ${streaming} streaming` +
    (status.ready ? "" : " (not all ready)");
  for (const camera of status.cameras) {
    const { root, view } = card(camera);
    const state = el(root, ".state");
    state.textContent = (camera.state || "unknown").replace("_", " ");
    state.className = `state ${camera.state || ""}`;
    el(root, ".fps").textContent = `${fmt(camera.fps_in)} / ${fmt(camera.fps_out)}`;
    el(root, ".ages").textContent = camera.age_ms_p50 === null || camera.age_ms_p50 === undefined
      ? "–" : `${fmt(camera.age_ms_p50, 0)} / ${fmt(camera.age_ms_p95, 0)} ms`;
    el(root, ".dropped").textContent = camera.dropped ?? 0;
    el(root, ".reconnects").textContent = camera.reconnects ?? 0;
    el(root, ".viewers").textContent = camera.viewers ?? 0;
    if (camera.engine === "ray") {  // where the camera's actor runs, and how often Ray restarted it
      for (const node of root.querySelectorAll(".ray")) node.hidden = false;
      el(root, ".node").textContent = `${camera.node ?? "–"} / ${camera.restarts ?? 0}`;
    }
    el(root, ".detections").textContent = camera.detector === false ? "no detector" : classList(camera.detections);
    const analytics = el(root, ".analytics");
    analytics.replaceChildren();
    if (camera.analytics) analytics.appendChild(analyticsTable(camera.analytics));
    el(root, ".error").textContent = camera.error || "";
    if (camera.state === "streaming") view.start();
  }
}

async function poll() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`status ${response.status}`);
    render(await response.json());
    document.getElementById("offline").hidden = true;
  } catch (err) {
    document.getElementById("offline").hidden = false;
  }
  setTimeout(poll, STATUS_EVERY_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) for (const { view } of cards.values()) view.start();
});
poll();
