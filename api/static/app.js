// The page: edit an architecture, see every layer's shapes and costs as formulas and as numbers.
//
// The service analyses an architecture once, symbolically (POST /analyze without bindings);
// the page then evaluates those formulas itself (evaluate.js) whenever a size changes, so the
// table follows a slider without a round trip. The service still has the last word: at the
// chosen sizes it is asked for the bound analysis (its warnings, and its error where a size is
// invalid), and it explains a layer, renders the downloads and imports ONNX files.

import { check, environment, evaluate, format, FormulaError, toNumber } from "./evaluate.js";
import { JsonSyntaxError, lineCol, parseWithSpans, pathKey } from "./jsonpos.js";
import { draw } from "./graph.js";
import { bars, line } from "./charts.js";
import * as share from "./share.js";

const $ = (sel) => document.querySelector(sel);
const DEFAULT_SIZE = { lenet5: 32, seed_example: 32, inception_v3: 299, unet: 256 };
const EDIT_DELAY_MS = 350, CHECK_DELAY_MS = 250, URL_DELAY_MS = 300;

/** What tests and the benchmark read (window.cnncalcPage). */
const page = { loads: 0, renders: 0, lastRenderMs: null, firstRenderMs: null, ready: false };
window.cnncalcPage = page;

const state = {
  arch: null,        // zoo name shown, or null for a custom architecture
  obj: null,         // the parsed architecture
  spans: null,       // positions of its values in the editor's text
  analysis: null,    // the symbolic analysis (JSON of POST /analyze)
  bound: false,      // true when the service could not answer symbolically: numbers only
  bindings: {},      // {symbol: number}
  slots: [],         // table cells to refresh: [element, json value, kind]
  relabel: null,     // the graph's edge relabeller
  seq: 0,            // request counter: a late answer to an old request is dropped
};

// ---------------------------------------------------------------- the service

async function post(path, body, query = "") {
  const r = await fetch(path + query, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  return { ok: r.ok, status: r.status, data };
}

async function getJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

// ---------------------------------------------------------------- editor and errors

const editor = $("#json"), backdrop = $("#backdrop"), errorBox = $("#error");

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

/** Mark [start, end) of the editor's text (and `inner` inside it) and scroll to it. */
function mark(range, inner) {
  const t = editor.value;
  if (!range) { backdrop.innerHTML = escapeHtml(t) + "\n"; return; }
  const [s, e] = range;
  const [is, ie] = inner && inner[0] >= s && inner[1] <= e ? inner : [s, s];
  backdrop.innerHTML = escapeHtml(t.slice(0, s)) + '<mark class="err-layer">' + escapeHtml(t.slice(s, is))
    + '<mark class="err-at">' + escapeHtml(t.slice(is, ie)) + "</mark>" + escapeHtml(t.slice(ie, e))
    + "</mark>" + escapeHtml(t.slice(e)) + "\n";
  const { line: ln } = lineCol(t, s);
  const lh = parseFloat(getComputedStyle(editor).lineHeight) || 18;
  editor.scrollTop = Math.max(0, (ln - 3) * lh);
  backdrop.scrollTop = editor.scrollTop;
}

/** The span of the layer a path is in (layers/3 or blocks/b/layers/2), and of the path itself. */
function spansOf(path) {
  if (!state.spans) return [null, null];
  let p = path.slice();
  if (p[0] === "architecture") p = p.slice(1);
  let at = null;
  for (let n = p.length; n >= 0 && !at; n--) at = state.spans.get(pathKey(p.slice(0, n)));
  let layer = null;
  for (let n = p.length; n > 0; n--) {
    if (typeof p[n - 1] === "number" && p[n - 2] === "layers") {
      layer = state.spans.get(pathKey(p.slice(0, n)));
      break;
    }
  }
  return [layer || at, at];
}

function showError(message, where, path) {
  errorBox.hidden = false;
  errorBox.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = where || "Error";
  const text = document.createElement("span");
  text.textContent = message;
  errorBox.append(strong, text);
  document.body.classList.add("has-error");
  if (path) errorBox.dataset.path = JSON.stringify(path);
}

function clearError() {
  errorBox.hidden = true;
  errorBox.replaceChildren();
  delete errorBox.dataset.path;
  document.body.classList.remove("has-error");
  for (const tr of document.querySelectorAll("#table tr.err")) tr.classList.remove("err");
  mark(null);
}

/** The spans to mark for an error: its layer, and the field the path or the message names. */
function errorSpans(body) {
  const path = (body.path || []).slice();
  if (path[0] === "architecture") path.shift();
  const [outer, inner] = spansOf(path);
  if (inner && outer && inner[0] === outer[0] && inner[1] === outer[1] && state.obj) {
    // the path ends at the layer: the field is the one the message starts with
    let layer = state.obj;
    for (const k of path) layer = layer == null ? null : layer[k];
    const field = /^([A-Za-z_]+)\b/.exec(body.detail || "");
    if (layer && field && typeof layer === "object" && field[1] in layer) {
      return [outer, state.spans.get(pathKey([...path, field[1]]))];
    }
    return [outer, null];
  }
  return [outer, inner];
}

/** A 422 body of the service at its layer: the message, the editor's text, the table's row. */
function showServiceError(body) {
  if (typeof body !== "object" || !body) { showError(String(body)); return; }
  const layer = body.layer != null ? `layer '${body.layer}'${body.index != null ? ` (#${body.index})` : ""}` : body.error;
  showError(body.detail || body.message, layer, body.path || []);
  mark(...errorSpans(body));
  if (body.layer) {
    const tr = document.querySelector(`#table tr[data-layer="${CSS.escape(body.layer)}"]`);
    if (tr) { tr.classList.add("err"); }
  }
}

function showSyntaxError(e) {
  const { line: ln, col } = lineCol(editor.value, e.pos);
  const p = e.path;
  let where = `line ${ln}, column ${col}`;
  for (let n = p.length; n > 0; n--) {
    if (typeof p[n - 1] === "number" && p[n - 2] === "layers") {
      where = `layer #${p[n - 1]}${p.length > 2 ? ` of ${p.slice(0, n - 2).join(".") || "layers"}` : ""}, ${where}`;
      break;
    }
  }
  showError(`JSON: ${e.message}`, where, p);
  const layerKey = (() => {
    for (let n = p.length; n > 0; n--) if (typeof p[n - 1] === "number" && p[n - 2] === "layers") return p.slice(0, n);
    return null;
  })();
  // the layer's text runs from its '{' to the error (its end was never reached)
  const start = layerKey ? findLayerStart(editor.value, e.pos) : e.pos;
  mark([start, Math.max(e.pos + 1, start)], [e.pos, e.pos + 1]);
}

/** The offset of the '{' that opens the object the offset `pos` is in. */
function findLayerStart(t, pos) {
  let depth = 0;
  for (let i = Math.min(pos, t.length - 1); i >= 0; i--) {
    if (t[i] === "}") depth++;
    else if (t[i] === "{") { if (depth === 0) return i; depth--; }
  }
  return 0;
}

// ---------------------------------------------------------------- analysis

let editTimer = 0;
editor.addEventListener("input", () => {
  mark(null);
  clearTimeout(editTimer);
  editTimer = setTimeout(() => { state.arch = null; $("#zoo").value = ""; analyseText(); }, EDIT_DELAY_MS);
});
editor.addEventListener("scroll", () => { backdrop.scrollTop = editor.scrollTop; backdrop.scrollLeft = editor.scrollLeft; });

async function analyseText() {
  const seq = ++state.seq;
  let parsed;
  try {
    parsed = parseWithSpans(editor.value);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    state.spans = null;
    showSyntaxError(e);
    return;
  }
  state.obj = parsed.value;
  state.spans = parsed.spans;
  status("analysing…");
  let r = await post("/analyze", { architecture: state.obj });
  if (seq !== state.seq) return;
  let bound = false;
  if (!r.ok && r.status === 422 && r.data && ["limit", "timeout"].includes(r.data.error)) {
    // too big to analyse symbolically: numbers only, from the service at each size
    bound = true;
    r = await post("/analyze", { architecture: state.obj, bindings: currentBindings(symbolsOf(state.obj)) });
    if (seq !== state.seq) return;
  }
  if (!r.ok) { status(""); showServiceError(r.data); scheduleUrl(); return; }
  clearError();
  state.bound = bound;
  setAnalysis(r.data);
  scheduleUrl();
}

/** The names of an architecture's input shape and declared symbols (before an analysis). */
function symbolsOf(obj) {
  const names = new Set();
  for (const d of (obj.input && obj.input.shape) || []) if (typeof d === "string" && /^[A-Za-z_]\w*$/.test(d)) names.add(d);
  for (const k of Object.keys(obj.symbols || {})) names.add(k);
  return [...names];
}

function defaultSize(name) {
  const spec = (state.obj && state.obj.symbols && state.obj.symbols[name]) || null;
  if (spec) return Math.max(spec.min ?? 1, 1);
  const lower = name.toLowerCase();
  if (["n", "b", "bs", "batch", "batch_size"].includes(lower)) return 1;
  if (["h", "w", "d", "height", "width", "depth"].includes(lower)) return DEFAULT_SIZE[state.arch] ?? 224;
  return 32;
}

function currentBindings(symbols) {
  const out = {};
  for (const s of symbols) out[s] = state.bindings[s] ?? defaultSize(s);
  return out;
}

function status(text) { $("#status").textContent = text; }

function setAnalysis(an) {
  state.analysis = an;
  state.warnings = null;
  state.bindings = currentBindings(an.symbols.concat(Object.keys(an.bindings || {})));
  for (const [k, v] of Object.entries(an.bindings || {})) state.bindings[k] = v;
  buildSizes(ordered(an.symbols, an.input_shape || []));
  buildTable(an);
  state.relabel = draw($("#graph"), an.layers, explainLayer);
  buildCompareOptions();
  update();
  status(state.bound ? "sizes evaluated by the service" : "");
  if (page.firstRenderMs === null) page.firstRenderMs = performance.now();
  page.loads++;
  page.ready = true;
}

// ---------------------------------------------------------------- sizes

/** The symbols in the input shape's order (N, H, W), then the others. */
function ordered(symbols, shape) {
  const first = shape.filter((d) => symbols.includes(d));
  return [...new Set([...first, ...symbols])];
}

function buildSizes(symbols) {
  const host = $("#sizes");
  host.replaceChildren();
  if (!symbols.length) {
    host.textContent = "Every size is fixed by the architecture.";
    return;
  }
  for (const s of symbols) {
    const spec = (state.obj && state.obj.symbols && state.obj.symbols[s]) || {};
    const lo = spec.min ?? 1;
    const hi = spec.max ?? (["N", "B"].includes(s) ? 256 : 1024);
    const wrap = document.createElement("label");
    wrap.className = "size";
    const name = document.createElement("span");
    name.textContent = s;
    const field = Object.assign(document.createElement("input"), { type: "number", min: lo, step: 1, value: state.bindings[s], name: s });
    field.setAttribute("aria-label", `size ${s}`);
    const slider = Object.assign(document.createElement("input"), { type: "range", min: lo, max: Math.max(hi, state.bindings[s]), step: 1, value: state.bindings[s] });
    slider.setAttribute("aria-label", `slider ${s}`);
    const set = (v, from) => {
      if (!/^\d+$/.test(String(v))) return;
      state.bindings[s] = Number(v);
      if (from !== field) field.value = v;
      if (from !== slider) { if (Number(v) > Number(slider.max)) slider.max = v; slider.value = v; }
      update();
    };
    field.addEventListener("input", () => set(field.value, field));
    slider.addEventListener("input", () => set(slider.value, slider));
    wrap.append(name, field, slider);
    host.append(wrap);
  }
  const sel = $("#sweep-s");
  sel.replaceChildren(...symbols.map((s) => new Option(s, s)));
  const spatial = symbols.find((s) => s === "H") || symbols[0];
  if (spatial) sel.value = spatial;
}

// ---------------------------------------------------------------- the table

const BYTES = ["B", "KiB", "MiB", "GiB", "TiB"];
function bytes(v) {
  if (typeof v !== "bigint") return format(v);
  let x = Number(v), k = 0;
  while (x >= 1024 && k < BYTES.length - 1) { x /= 1024; k++; }
  return k ? `${x.toPrecision(3)} ${BYTES[k]}` : `${v} B`;
}

function cell(tr, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

/** A cell whose number is refreshed at each size; the formula (if any) printed below it. */
function quantity(td, value, kind) {
  const v = document.createElement("span");
  v.className = "v";
  td.append(v);
  const formula = Array.isArray(value) ? value.some((x) => typeof x === "string") : typeof value === "string";
  if (formula) {
    const f = document.createElement("span");
    f.className = "f";
    const text = Array.isArray(value) ? value.map((x) => (x === null ? "—" : String(x))).join(" × ") : value;
    // a line may break after a '*' (<wbr>: a copy of the text has none)
    f.innerHTML = escapeHtml(text).replace(/\*/g, "*<wbr>");
    td.append(f);
  }
  state.slots.push([v, value, kind]);
}

function buildTable(an) {
  const body = document.createElement("tbody");
  state.slots = [];
  an.layers.forEach((l, i) => {
    const tr = document.createElement("tr");
    tr.dataset.layer = l.name;
    tr.title = "click: explain this layer";
    cell(tr, "i").textContent = String(i);
    const name = cell(tr, "name");
    name.innerHTML = `<b></b><small></small>`;
    name.firstChild.textContent = l.name;
    name.lastChild.textContent = l.type + (l.inputs.length > 1 ? ` ⟵ ${l.inputs.join(", ")}` : "");
    quantity(cell(tr, "shape"), l.output_shape, "oshape");
    quantity(cell(tr, "n"), l.params, "count");
    quantity(cell(tr, "n"), l.macs, "count");
    quantity(cell(tr, "n"), l.activation_bytes, "bytes");
    quantity(cell(tr, "rf"), l.receptive_field.size, "shape");
    quantity(cell(tr, "rf"), l.receptive_field.stride, "shape");
    tr.addEventListener("click", () => explainLayer(l.name));
    body.append(tr);
  });
  $("#table tbody").replaceWith(body);
  const totals = $("#totals");
  totals.replaceChildren();
  const t = an.totals;
  for (const [key, label, kind] of [["params", "params", "count"], ["macs", "MACs", "count"],
    ["flops", "FLOPs", "count"], ["activation_bytes", "activation memory", "bytes"],
    ["peak_activation_bytes", "peak memory (inference)", "bytes"], ["param_bytes", "parameter memory", "bytes"]]) {
    if (t[key] === undefined) continue;
    const box = document.createElement("div");
    box.className = `total total-${key}`;
    const h = document.createElement("span");
    h.className = "label";
    h.textContent = label;
    box.append(h);
    quantity(box, t[key], kind);
    totals.append(box);
  }
}

const memo = new Map();
function value(q, env) {
  if (typeof q !== "string") return q === null || q === undefined ? null : BigInt(q);
  let v = memo.get(q);
  if (v === undefined) { v = evaluate(q, env); memo.set(q, v); }
  return v;
}

/** Re-evaluate every cell at the current sizes; check the constraints; time it. */
function update() {
  if (!state.analysis) return;
  const t0 = performance.now();
  const env = environment(state.bindings);
  memo.clear();
  let bad = null;
  try {
    for (const [el, q, kind] of state.slots) {
      if (kind === "shape" || kind === "oshape") {
        const dims = q.map((d) => value(d, env));
        if (!bad && kind === "oshape") {
          const k = dims.findIndex((d) => d !== null && typeof d === "bigint" && d < 1n);
          if (k >= 0) bad = `${el.closest("tr").dataset.layer}: output size ${format(dims[k])} along axis ${k} (it must be at least 1)`;
        }
        el.textContent = dims.map(format).join(" × ");
      } else {
        const v = value(q, env);
        el.textContent = kind === "bytes" ? bytes(v) : format(v);
        if (kind === "bytes" && typeof v === "bigint") el.title = `${format(v)} bytes`;
      }
    }
  } catch (e) {
    if (!(e instanceof FormulaError)) throw e;
    bad = e.message;
  }
  let unknown = false;
  for (const c of state.analysis.constraints || []) {
    const ok = check(c, env);
    if (ok === false && !bad) bad = `needs ${c}`;
    if (ok === null) unknown = true;
  }
  page.lastRenderMs = performance.now() - t0;
  page.renders++;
  document.body.classList.toggle("invalid", !!bad);
  notes(bad);
  afterUpdate(bad || unknown);
}

function notes(bad) {
  const an = state.analysis;
  const ul = $("#notes");
  ul.replaceChildren();
  const add = (cls, text) => { const li = document.createElement("li"); li.className = cls; li.textContent = text; ul.append(li); };
  if (bad) add("bad", `Invalid at these sizes: ${bad}`);
  for (const c of an.constraints || []) add("constraint", `constraint: ${c}`);
  for (const x of an.exact_sizes || []) add("exact", x);
  const warnings = state.warnings || an.warnings || [];
  if (!warnings.length) return;
  // warnings fold away when there are several: the table stays in view
  const li = document.createElement("li");
  li.className = "warnings";
  const details = document.createElement("details");
  details.open = state.warningsOpen ?? warnings.length <= 2;
  details.addEventListener("toggle", () => { state.warningsOpen = details.open; });
  const summary = document.createElement("summary");
  summary.textContent = `${warnings.length} warning${warnings.length > 1 ? "s" : ""} at these sizes`;
  const inner = document.createElement("ul");
  for (const w of warnings) {
    const item = document.createElement("li");
    item.className = "warning";
    item.textContent = w;
    inner.append(item);
  }
  details.append(summary, inner);
  li.append(details);
  ul.append(li);
}

// the graph, charts, the bound check and the URL follow after the table is on screen
let checkTimer = 0, lateTimer = 0;
function afterUpdate(urgent) {
  clearTimeout(lateTimer);
  lateTimer = setTimeout(() => {
    const env = environment(state.bindings);
    if (state.relabel) state.relabel((name) => shapeOf(name, env));
    if (!$("#tab-charts").hidden) drawCharts();
    if (!$("#tab-compare").hidden) drawCompare();
  }, 30);
  clearTimeout(checkTimer);
  checkTimer = setTimeout(boundCheck, urgent ? 0 : CHECK_DELAY_MS);
  scheduleUrl();
}

function shapeOf(name, env) {
  const an = state.analysis;
  const l = name === "input" ? { output_shape: an.input_shape || [] } : an.layers.find((x) => x.name === name);
  if (!l) return "";
  try { return l.output_shape.map((d) => format(evaluate(d, env))).join("×"); } catch { return ""; }
}

/** Ask the service for the analysis at these sizes: its warnings there, or its error. */
async function boundCheck() {
  if (!state.obj || !state.analysis) return;
  const seq = state.seq, b = { ...state.bindings };
  const r = await post("/analyze", { architecture: state.obj, bindings: b });
  if (seq !== state.seq || JSON.stringify(b) !== JSON.stringify(state.bindings)) return;
  if (!r.ok) { showServiceError(r.data); return; }
  clearError();
  state.warnings = r.data.warnings || [];
  if (state.bound) { state.analysis = { ...state.analysis }; setBoundNumbers(r.data); }
  notes(null);
}

/** In numbers-only mode, show the service's numbers (same layers, values instead of formulas). */
function setBoundNumbers(an) {
  state.analysis = an;
  buildTable(an);
  const env = environment(state.bindings);
  for (const [el, q, kind] of state.slots) {
    el.textContent = kind.endsWith("shape") ? q.map((d) => format(value(d, env))).join(" × ") : kind === "bytes" ? bytes(value(q, env)) : format(value(q, env));
  }
}

const formulas = $("#formulas");
const showFormulas = () => $("#table").classList.toggle("formulas", formulas.checked);
formulas.addEventListener("change", showFormulas);
showFormulas();

// ---------------------------------------------------------------- explain

async function explainLayer(name) {
  if (!state.obj) return;
  const panel = $("#explain");
  panel.hidden = false;
  $("#explain-title").textContent = name;
  panel.dataset.layer = name;
  $("#explain-text").textContent = "…";
  for (const tr of document.querySelectorAll("#table tr.sel")) tr.classList.remove("sel");
  const tr = document.querySelector(`#table tr[data-layer="${CSS.escape(name)}"]`);
  if (tr) tr.classList.add("sel");
  const r = await post("/explain", { architecture: state.obj, bindings: state.bindings, layer: name, format: $("#explain-format").value });
  if (panel.dataset.layer !== name) return;
  $("#explain-text").textContent = r.ok ? r.data.text : (r.data.message || String(r.data));
}
$("#explain-close").addEventListener("click", () => { $("#explain").hidden = true; });
$("#explain-format").addEventListener("change", () => { const n = $("#explain").dataset.layer; if (n) explainLayer(n); });

// ---------------------------------------------------------------- tabs, charts, compare

for (const b of document.querySelectorAll(".tabs button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll(".tabs button")) o.setAttribute("aria-selected", String(o === b));
    for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${b.dataset.tab}`;
    if (b.dataset.tab === "charts") drawCharts();
    if (b.dataset.tab === "compare") drawCompare();
  });
}

function numbers(q, env) {
  try { const v = evaluate(q, env); return v === null ? NaN : toNumber(v); } catch { return NaN; }
}

function drawCharts() {
  const an = state.analysis;
  if (!an) return;
  const env = environment(state.bindings);
  const names = an.layers.map((l) => l.name);
  const rf = an.layers.map((l) => numbers(l.receptive_field.size[0], env));
  $("#charts").replaceChildren(
    bars("MACs per layer", names, an.layers.map((l) => numbers(l.macs, env)), explainLayer),
    bars("params per layer", names, an.layers.map((l) => numbers(l.params, env)), explainLayer),
    line("receptive field (first spatial axis) by layer", names.map((_, i) => i + 1), rf, "layer"));
  drawSweep();
}

function drawSweep() {
  const an = state.analysis;
  const s = $("#sweep-s").value, q = $("#sweep-q").value;
  if (!an || !s || an.totals[q] === undefined) { $("#sweep").replaceChildren(); return; }
  const from = Math.max(1, +$("#sweep-from").value || 1), to = Math.max(from, +$("#sweep-to").value || from);
  const step = Math.max(1, +$("#sweep-step").value || 1);
  const xs = [], ys = [];
  for (let x = from; x <= to && xs.length < 2000; x += step) {
    const b = { ...state.bindings, [s]: x };
    if (s === "H" && "W" in b && state.bindings.W === state.bindings.H) b.W = x;
    xs.push(x);
    ys.push(numbers(an.totals[q], environment(b)));
  }
  const label = $("#sweep-q").selectedOptions[0].textContent;
  const tied = s === "H" && state.bindings.W === state.bindings.H ? " (W = H)" : "";
  $("#sweep").replaceChildren(line(`total ${label} against ${s}${tied}`, xs, ys, s));
}
for (const id of ["#sweep-q", "#sweep-s", "#sweep-from", "#sweep-to", "#sweep-step"]) $(id).addEventListener("input", drawSweep);

const others = new Map();
function buildCompareOptions() {
  const sel = $("#other");
  if (sel.options.length) return;
  for (const o of $("#zoo").options) if (o.value) sel.append(new Option(o.value, o.value));
  sel.value = state.arch === "resnet50" ? "resnet18" : "resnet50";
}
$("#other").addEventListener("change", drawCompare);

async function drawCompare() {
  const name = $("#other").value;
  if (!name || !state.analysis) return;
  if (!others.has(name)) {
    const r = await post("/analyze", { architecture: await getJson(`/zoo/${encodeURIComponent(name)}`) });
    if (!r.ok) { $("#compare").textContent = r.data.message || "cannot analyse"; return; }
    others.set(name, r.data);
  }
  const b = others.get(name), a = state.analysis;
  const envA = environment(state.bindings);
  const envB = environment({ ...Object.fromEntries(b.symbols.map((s) => [s, state.bindings[s] ?? defaultSize(s)])) });
  const rows = [["params", "count"], ["macs", "count"], ["flops", "count"], ["activation_bytes", "bytes"],
    ["peak_activation_bytes", "bytes"], ["param_bytes", "bytes"]];
  const table = document.createElement("table");
  table.className = "compare";
  table.innerHTML = "<thead><tr><th></th><th></th><th></th><th>ratio</th></tr></thead>";
  table.tHead.rows[0].cells[1].textContent = state.arch || a.name || "this";
  table.tHead.rows[0].cells[2].textContent = name;
  const body = table.createTBody();
  const cellText = (v, kind) => (kind === "bytes" ? bytes(v) : format(v));
  const safe = (q, env) => { try { return evaluate(q, env); } catch { return null; } };
  for (const [k, kind] of rows) {
    const va = safe(a.totals[k], envA), vb = safe(b.totals[k], envB);
    const tr = body.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = cellText(va, kind);
    tr.insertCell().textContent = cellText(vb, kind);
    tr.insertCell().textContent = va && vb && Number(vb) ? (toNumber(va) / toNumber(vb)).toFixed(2) : "—";
  }
  const layers = body.insertRow();
  layers.insertCell().textContent = "layers";
  layers.insertCell().textContent = String(a.layers.length);
  layers.insertCell().textContent = String(b.layers.length);
  layers.insertCell().textContent = (a.layers.length / b.layers.length).toFixed(2);
  $("#compare").replaceChildren(table);
}

// ---------------------------------------------------------------- downloads, ONNX, share

for (const b of document.querySelectorAll(".downloads button")) {
  b.addEventListener("click", async () => {
    if (!state.obj) return;
    const fmt = b.dataset.format;
    const r = await post("/analyze", { architecture: state.obj, bindings: state.bindings }, `?format=${fmt}`);
    if (!r.ok) { showServiceError(r.data); return; }
    const ext = { markdown: "md", latex: "tex", csv: "csv" }[fmt];
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([r.data], { type: "text/plain" }));
    a.download = `${state.arch || (state.obj && state.obj.name) || "architecture"}.${ext}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}

$("#onnx").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("name", file.name.replace(/\.onnx$/i, ""));
  status(`importing ${file.name}…`);
  const r = await fetch("/import/onnx", { method: "POST", body: form });
  const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : { message: await r.text() };
  ev.target.value = "";
  if (!r.ok) { status(""); showError(data.message || `HTTP ${r.status}`, `ONNX import of ${file.name}`); return; }
  state.arch = null;
  $("#zoo").value = "";
  editor.value = pretty(data.architecture);
  const unused = data.unused_parameters;
  status(unused && Object.keys(unused).length ? `imported; parameters not used by any layer: ${Object.keys(unused).join(", ")}` : "imported");
  await analyseText();
});

let urlTimer = 0;
function scheduleUrl() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(async () => {
    const url = await share.write(location.pathname, { arch: state.arch, bindings: state.arch || state.obj ? state.bindings : {}, text: editor.value });
    history.replaceState(null, "", url);
  }, URL_DELAY_MS);
}

$("#share").addEventListener("click", async () => {
  const url = new URL(await share.write(location.pathname, { arch: state.arch, bindings: state.bindings, text: editor.value }), location.href).href;
  history.replaceState(null, "", url);
  try { await navigator.clipboard.writeText(url); status("link copied"); } catch { status(url); }
});

// ---------------------------------------------------------------- zoo and start

/** `v` as JSON on one line, with a space after each comma and colon. */
function flat(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(flat).join(", ")}]`;
  return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${flat(x)}`).join(", ")}}`;
}

/** JSON text for the editor: a value that fits in `width` characters on one line stays there. */
function pretty(v, indent = "", width = 88) {
  const one = flat(v);
  if (v === null || typeof v !== "object" || one.length + indent.length <= width) return one;
  const inner = indent + "  ";
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + pretty(x, inner, width)).join(",\n")}\n${indent}]`;
  const items = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pretty(x, inner, width - k.length - 4)}`);
  return `{\n${items.join(",\n")}\n${indent}}`;
}

async function openZoo(name, fetched = null) {
  const obj = (fetched && await fetched) || await getJson(`/zoo/${encodeURIComponent(name)}`);
  state.arch = name;
  $("#zoo").value = name;
  editor.value = pretty(obj);
  await analyseText();
  state.arch = name; // analyseText keeps it: the text is the zoo's own
}

$("#zoo").addEventListener("change", () => {
  const name = $("#zoo").value;
  if (name) { state.bindings = {}; openZoo(name); }
});

async function start() {
  const s = await share.read(location);
  // the zoo's names and the linked model in parallel (a wrong name is said below)
  const linked = s.arch && /^[\w.-]+$/.test(s.arch)
    ? getJson(`/zoo/${encodeURIComponent(s.arch)}`).catch(() => null) : null;
  const names = await getJson("/zoo");
  for (const n of names) $("#zoo").append(new Option(n, n));
  state.bindings = { ...s.bindings };
  if (s.arch && names.includes(s.arch)) await openZoo(s.arch, linked);
  else if (s.text !== null) { editor.value = s.text; await analyseText(); }
  else await openZoo(names.includes("resnet18") ? "resnet18" : names[0]);
  if (s.arch && !names.includes(s.arch)) {
    status(`The link names no zoo model ${JSON.stringify(s.arch)} (one of ${names.join(", ")}); showing ${state.arch}.`);
  }
}

start().catch((e) => { status(""); showError(String(e.message || e), "the page could not start"); });
