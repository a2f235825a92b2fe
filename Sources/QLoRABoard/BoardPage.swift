/// The board's one page: HTML, CSS and the chart code (SVG drawn by hand-written JavaScript), all
/// inside the binary; it loads nothing from elsewhere. It polls `/api/runs` every two seconds.
enum BoardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qlora board</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px 20px; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 10px; } h1 small { font-weight: normal; color: #777; font-size: 12px; }
#runs { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }
.run { background: #fff; border: 1px solid #ddd; border-left: 6px solid var(--c); border-radius: 4px; padding: 6px 10px; min-width: 300px; }
.run b { font-size: 14px; } .run .bar { height: 6px; background: #eee; border-radius: 3px; margin: 4px 0; }
.run .bar div { height: 6px; background: var(--c); border-radius: 3px; }
.run table { border-collapse: collapse; } .run td { padding: 0 10px 0 0; white-space: nowrap; } .run td:first-child { color: #777; }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 10px; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 4px 6px; }
.chart h2 { font-size: 13px; margin: 2px 0; } .chart svg { width: 100%; height: 220px; display: block; }
.axis { stroke: #999; stroke-width: 1; } .grid { stroke: #eee; stroke-width: 1; } .tick { font-size: 10px; fill: #666; }
details { margin-top: 12px; background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; }
pre { font-size: 11px; margin: 4px 0; white-space: pre-wrap; }
#status { color: #a00; }
</style></head>
<body>
<h1>qlora board <small id="updated"></small> <span id="status"></span></h1>
<div id="runs"></div>
<div id="charts">
  <div class="chart"><h2>Loss (train solid, eval dashed)</h2><svg id="c-loss"></svg></div>
  <div class="chart"><h2>Learning rate</h2><svg id="c-lr"></svg></div>
  <div class="chart"><h2>Gradient norm</h2><svg id="c-grad"></svg></div>
  <div class="chart"><h2>Tokens / s</h2><svg id="c-tps"></svg></div>
  <div class="chart"><h2>RSS (MiB; dashed: the run's <code>memplan --device cpu</code> total)</h2><svg id="c-rss"></svg></div>
</div>
<div id="options"></div>
<script>
"use strict";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}
function fmt(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  if (a >= 100) return v.toFixed(0);
  return +v.toPrecision(3) + "";
}
// series: [{color, dash, pts: [[x, y]]}]; lines: [{y, color}]
function chart(id, series, lines) {
  const svg = document.getElementById(id);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = svg.clientWidth || 400, H = svg.clientHeight || 220, L = 52, R = 10, T = 8, B = 22;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const pts = series.flatMap(s => s.pts).filter(p => isFinite(p[1]));
  const ys = pts.map(p => p[1]).concat(lines.map(l => l.y));
  if (pts.length === 0) { svg.appendChild(el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick"}, "no data yet")); return; }
  let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]));
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.05 || Math.abs(y0) * 0.05 || 1; y0 -= pad; y1 += pad;
  const X = x => L + (W - L - R) * (x - x0) / (x1 - x0), Y = y => H - B - (H - T - B) * (y - y0) / (y1 - y0);
  for (const t of niceTicks(y0, y1, 5)) {
    svg.appendChild(el("line", {x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: "grid"}));
    svg.appendChild(el("text", {x: L - 4, y: Y(t) + 3, "text-anchor": "end", class: "tick"}, fmt(t)));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    svg.appendChild(el("text", {x: X(t), y: H - 6, "text-anchor": "middle", class: "tick"}, fmt(t)));
  }
  svg.appendChild(el("line", {x1: L, x2: L, y1: T, y2: H - B, class: "axis"}));
  svg.appendChild(el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis"}));
  for (const l of lines) {
    svg.appendChild(el("line", {x1: L, x2: W - R, y1: Y(l.y), y2: Y(l.y), stroke: l.color, "stroke-width": 1.5, "stroke-dasharray": "6 4"}));
  }
  for (const s of series) {
    const p = s.pts.filter(q => isFinite(q[1]));
    if (p.length === 0) continue;
    const d = p.map((q, i) => (i ? "L" : "M") + X(q[0]).toFixed(1) + " " + Y(q[1]).toFixed(1)).join("");
    svg.appendChild(el("path", {d, fill: "none", stroke: s.color, "stroke-width": s.dash ? 2 : 1.5, "stroke-dasharray": s.dash ? "5 3" : ""}));
    if (s.dash || p.length === 1) for (const q of p) svg.appendChild(el("circle", {cx: X(q[0]), cy: Y(q[1]), r: 2.5, fill: s.color}));
  }
}
function duration(s) {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
}
function remaining(run) {
  const m = run.metrics, total = run.total_steps;
  if (run.summary || !total || m.length < 2) return null;
  const last = m[m.length - 1], first = m[Math.max(0, m.length - 50)];
  if (last.time == null || first.time == null || last.step === first.step) return null;
  return (last.time - first.time) / (last.step - first.step) * (total - last.step);
}
function num(v) { return typeof v === "string" ? Number(v) : v; }
function render(runs) {
  const box = document.getElementById("runs");
  box.innerHTML = "";
  runs.forEach((run, i) => {
    const c = COLORS[i % COLORS.length], m = run.metrics, last = m[m.length - 1];
    const evals = m.filter(x => x.eval_loss != null), ev = evals.length ? evals[evals.length - 1].eval_loss : null;
    const step = last ? last.step : 0, total = run.total_steps || step || 1;
    const rem = remaining(run);
    const state = run.summary ? "finished" : (m.length ? "running" : "waiting");
    const d = document.createElement("div");
    d.className = "run"; d.style.setProperty("--c", c);
    const rows = [
      ["step", `${step} / ${run.total_steps ?? "?"}` + (rem != null ? ` — ${duration(rem)} left` : "") + ` (${state})`],
      ["loss", last ? num(last.loss).toFixed(4) + (ev != null ? `   eval ${num(ev).toFixed(4)}` : "") : "—"],
      ["tokens/s", last ? num(last.tokens_per_second).toFixed(0) : "—"],
      ["RSS", last ? (last.rss_bytes / 1048576).toFixed(0) + " MiB" + (run.memory_plan_bytes ? ` of ${(run.memory_plan_bytes / 1048576).toFixed(0)} MiB planned` : "") : "—"],
    ];
    d.innerHTML = `<b></b><div class="bar"><div style="width:${Math.min(100, 100 * step / total)}%"></div></div><table></table>`;
    d.querySelector("b").textContent = run.name;
    const tb = d.querySelector("table");
    for (const [k, v] of rows) { const tr = tb.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
    box.appendChild(d);
  });
  const S = (key, f) => runs.map((r, i) => ({color: COLORS[i % COLORS.length], pts: r.metrics.filter(x => x[key] != null).map(x => [x.step, f(num(x[key]))])}));
  const id = v => v;
  chart("c-loss", S("loss", id).concat(S("eval_loss", id).map(s => ({...s, dash: true}))), []);
  chart("c-lr", S("lr", id), []);
  chart("c-grad", S("grad_norm", id), []);
  chart("c-tps", S("tokens_per_second", id), []);
  chart("c-rss", S("rss_bytes", v => v / 1048576),
        runs.map((r, i) => ({y: r.memory_plan_bytes / 1048576, color: COLORS[i % COLORS.length]})).filter(l => isFinite(l.y)));
  const opts = document.getElementById("options");
  if (opts.childElementCount !== runs.length) {
    opts.innerHTML = "";
    for (const r of runs) {
      const det = document.createElement("details");
      det.innerHTML = "<summary></summary><pre></pre>";
      det.querySelector("summary").textContent = `${r.name}: options (${r.path})`;
      opts.appendChild(det);
    }
  }
  runs.forEach((r, i) => {
    const pre = opts.children[i].querySelector("pre");
    const text = (r.arguments ? "qlora " + r.arguments.join(" ") + "\n\n" : "") + JSON.stringify(r.options ?? {}, null, 2)
      + (r.summary ? "\n\nsummary.json: " + JSON.stringify(r.summary, null, 2) : "");
    if (pre.textContent !== text) pre.textContent = text;
  });
}
async function poll() {
  try {
    const res = await fetch("/api/runs", {cache: "no-store"});
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.getElementById("status").textContent = "";
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach the board: " + e.message;
  }
  setTimeout(poll, 2000);
}
poll();
</script>
</body></html>
"""#
}
