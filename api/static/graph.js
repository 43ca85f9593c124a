// The network as an SVG graph: one box per layer, rows by topological depth, an edge from each
// input to its layer labelled with the tensor's shape; a layer with several inputs (a merge)
// is drawn in its own colour.

const NS = "http://www.w3.org/2000/svg";
const BOX_W = 168, BOX_H = 36, GAP_X = 40, GAP_Y = 34;

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Where each layer goes: {pos: Map(name -> {x, y, depth}), width, height}. */
export function layout(layers) {
  const depth = new Map([["input", 0]]);
  const rows = [];
  for (const l of layers) {
    let d = 0;
    for (const i of l.inputs) d = Math.max(d, (depth.get(source(i, depth)) ?? 0) + 1);
    depth.set(l.name, d);
    (rows[d] ??= []).push(l.name);
  }
  rows[0] = ["input", ...(rows[0] ?? [])];
  const widest = Math.max(...rows.map((r) => (r ? r.length : 0)));
  const width = widest * (BOX_W + GAP_X) + GAP_X;
  const pos = new Map();
  rows.forEach((row, d) => {
    if (!row) return;
    const left = (width - row.length * (BOX_W + GAP_X) + GAP_X) / 2;
    row.forEach((name, k) => pos.set(name, { x: left + k * (BOX_W + GAP_X), y: GAP_Y + d * (BOX_H + GAP_Y), depth: d }));
  });
  return { pos, width: width + 60, height: rows.length * (BOX_H + GAP_Y) + GAP_Y };
}

/** The layer an input names ("conv1", or "split1:0" for one output of several). */
function source(name, known) {
  if (known.has(name)) return name;
  const m = /^(.*)[:.](\d+)$/.exec(name);
  return m && known.has(m[1]) ? m[1] : name;
}

/**
 * Draw `layers` (the analysis' list) into `host`; returns update(shapeText) that relabels the
 * edges, where shapeText(layerName) is the shape to print (the input's when name is "input").
 */
export function draw(host, layers, onClick) {
  const { pos, width, height } = layout(layers);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph",
    role: "img", "aria-label": `graph of ${layers.length} layers` });
  const edges = el("g", { class: "edges" });
  const boxes = el("g", { class: "boxes" });
  svg.append(edges, boxes);
  const labels = [];
  const names = new Set(pos.keys());
  for (const l of layers) {
    const to = pos.get(l.name);
    for (const input of l.inputs) {
      const srcName = source(input, names);
      const from = pos.get(srcName);
      if (!from) continue;
      const x1 = from.x + BOX_W / 2, y1 = from.y + BOX_H, x2 = to.x + BOX_W / 2, y2 = to.y;
      let d, lx, ly;
      if (to.depth - from.depth > 1 && Math.abs(x1 - x2) < 1) {
        // a skip connection along the same column: bow out to the right of the boxes
        const bx = x1 + BOX_W / 2 + 24;
        d = `M${x1 + BOX_W / 2},${y1 - BOX_H / 2} C${bx},${y1 - BOX_H / 2} ${bx},${y2 + BOX_H / 2} ${x2 + BOX_W / 2},${y2 + BOX_H / 2}`;
        lx = bx - 2; ly = (y1 + y2) / 2;
      } else {
        d = `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2}`;
        lx = (x1 + x2) / 2 + 4; ly = (y1 + y2) / 2 + 4;
      }
      edges.append(el("path", { d, class: "edge" }));
      const t = el("text", { x: lx, y: ly, class: "shape" }, "");
      edges.append(t);
      labels.push([t, srcName]);
    }
  }
  const inPos = pos.get("input");
  const inBox = el("g", { class: "io", transform: `translate(${inPos.x},${inPos.y})` });
  inBox.append(el("rect", { width: BOX_W, height: BOX_H, rx: 18 }),
    el("text", { x: BOX_W / 2, y: 23, "text-anchor": "middle" }, "input"));
  boxes.append(inBox);
  layers.forEach((l, index) => {
    const p = pos.get(l.name);
    const merge = l.inputs.length > 1;
    const g = el("g", { class: `box${merge ? " merge" : ""}`, transform: `translate(${p.x},${p.y})`,
      "data-layer": l.name, tabindex: "0" });
    g.append(el("title", {}, `${l.name} (${l.type})${merge ? `: merges ${l.inputs.join(", ")}` : ""}`),
      el("rect", { width: BOX_W, height: BOX_H, rx: 5 }),
      el("text", { x: 8, y: 15, class: "name" }, tail(l.name, 22)),
      el("text", { x: 8, y: 29, class: "type" }, clip(l.type + (merge ? ` ⟵ ${l.inputs.length}` : ""), 24)));
    g.addEventListener("click", () => onClick(l.name, index));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") onClick(l.name, index); });
    boxes.append(g);
  });
  host.replaceChildren(svg);
  return (shapeText) => {
    for (const [t, name] of labels) t.textContent = shapeText(name);
  };
}

/** The end of a long dotted name, which tells blocks' layers apart ("…denselayer3.conv1"). */
function tail(s, n) { return s.length > n ? `…${s.slice(s.length - n + 1)}` : s; }

function clip(s, n) { return s.length > n ? `${s.slice(0, n - 1)}…` : s; }
