// Bunker dashboard: the little script the server-rendered pages need.
// Charts (uPlot) over the JSON next to each data table, the live invocation
// list (server-sent events) and the exec terminal (xterm.js over a WebSocket).

function readJson(el) {
  return el ? JSON.parse(el.textContent || "null") : null;
}

function fmtTime(sec) {
  return new Date(sec * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const COLORS = ["#0b57d0", "#136c2e", "#b3261e", "#7a4a00", "#6a1b9a"];

function drawCharts() {
  if (typeof uPlot === "undefined") return;
  for (const fig of document.querySelectorAll("figure[data-chart]")) {
    const spec = readJson(fig.querySelector("script[type='application/json']"));
    const host = fig.querySelector(".chart");
    if (!spec || !host || host.dataset.drawn) continue;
    host.dataset.drawn = "1";
    const width = () => Math.max(240, host.clientWidth || 300);
    const opts = {
      width: width(),
      height: 200,
      legend: { show: true, live: false },
      cursor: { show: true },
      scales: { x: spec.range ? { time: true, range: () => spec.range } : { time: true } },
      axes: [{ values: (_u, ticks) => ticks.map(fmtTime) }, { label: spec.unit || "", size: 60 }],
      series: [
        {},
        ...spec.series.map((label, i) => ({
          label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          points: { show: true, size: 6 },
          spanGaps: true,
        })),
      ],
    };
    const plot = new uPlot(opts, spec.data, host);
    fig.dataset.points = String(spec.data[0] ? spec.data[0].length : 0);
    new ResizeObserver(() => plot.setSize({ width: width(), height: 200 })).observe(host);
  }
}

function liveInvocations() {
  const body = document.querySelector("tbody[data-sse]");
  if (!body || typeof EventSource === "undefined") return;
  const status = document.getElementById("live-status");
  const source = new EventSource(body.dataset.sse);
  source.addEventListener("rows", (e) => {
    body.innerHTML = e.data;
    if (status) status.textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
  });
  source.addEventListener("error", () => {
    if (status) status.textContent = "Live updates paused (reconnecting)";
  });
}

function b64encode(text) {
  const bytes = new TextEncoder().encode(text);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function b64decode(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function execTerminal() {
  const host = document.getElementById("terminal");
  if (!host || typeof Terminal === "undefined") return;
  const status = document.getElementById("exec-status");
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, screenReaderMode: true });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  const url = new URL(host.dataset.ws, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("cols", String(term.cols));
  url.searchParams.set("rows", String(term.rows));
  const ws = new WebSocket(url);
  const say = (t) => {
    if (status) status.textContent = t;
  };
  ws.addEventListener("open", () => {
    say("Connected");
    term.focus();
  });
  ws.addEventListener("message", (e) => {
    const f = JSON.parse(e.data);
    if (f.stdout) term.write(b64decode(f.stdout));
    else if (f.stderr) term.write(b64decode(f.stderr));
    else if (f.exit !== undefined) say(`Exited with code ${f.exit}`);
    else if (f.error) say(`Error: ${f.error}`);
  });
  ws.addEventListener("close", () =>
    say(`${status?.textContent.startsWith("Exited") ? `${status.textContent}; ` : ""}Disconnected`),
  );
  term.onData((d) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ stdin: b64encode(d) }));
  });
  const resize = () => {
    fit.fit();
    if (ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ resize: { cols: term.cols, rows: term.rows } }));
  };
  new ResizeObserver(resize).observe(host);
  window.bunkerTerminal = term;
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  liveInvocations();
  execTerminal();
});
