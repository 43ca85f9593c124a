// Small SVG charts, no library: bars per layer and a line of y against x.

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 200, PAD_L = 64, PAD_B = 28, PAD_T = 22;

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** 1234567 as "1.23M" (axis labels only; the table keeps every digit). */
export function short(v) {
  const a = Math.abs(v);
  for (const [d, s] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= d) return `${+(v / d).toPrecision(3)}${s}`;
  }
  return `${+v.toPrecision(3)}`;
}

function frame(title, maxY) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(el("text", { x: PAD_L, y: 14, class: "title" }, title));
  for (const f of [0, 0.5, 1]) {
    const y = H - PAD_B - f * (H - PAD_B - PAD_T);
    svg.append(el("line", { x1: PAD_L, x2: W - 8, y1: y, y2: y, class: "grid" }),
      el("text", { x: PAD_L - 6, y: y + 4, "text-anchor": "end", class: "tick" }, short(f * maxY)));
  }
  return svg;
}

/** Bars of `values` (Numbers) labelled by `names` (a title per bar). */
export function bars(title, names, values, onClick) {
  const maxY = Math.max(1, ...values);
  const svg = frame(title, maxY);
  const bw = (W - PAD_L - 8) / Math.max(1, values.length);
  values.forEach((v, i) => {
    const h = (v / maxY) * (H - PAD_B - PAD_T);
    const r = el("rect", { x: PAD_L + i * bw, y: H - PAD_B - h, width: Math.max(1, bw - 1), height: h, class: "bar" });
    r.append(el("title", {}, `${names[i]}: ${v.toLocaleString("en-US")}`));
    if (onClick) r.addEventListener("click", () => onClick(names[i], i));
    svg.append(r);
  });
  svg.append(el("text", { x: W - 8, y: H - 8, "text-anchor": "end", class: "tick" }, `layer 1 … ${values.length}`));
  return svg;
}

/** A line through (xs[i], ys[i]) with dots; x labels at the ends. */
export function line(title, xs, ys, xName) {
  const maxY = Math.max(1, ...ys.filter(Number.isFinite));
  const svg = frame(title, maxY);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const px = (x) => PAD_L + ((x - x0) / Math.max(1, x1 - x0)) * (W - PAD_L - 16);
  const py = (y) => H - PAD_B - (y / maxY) * (H - PAD_B - PAD_T);
  const pts = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => Number.isFinite(y));
  svg.append(el("polyline", { points: pts.map(([x, y]) => `${px(x)},${py(y)}`).join(" "), class: "line" }));
  for (const [x, y] of pts) {
    const c = el("circle", { cx: px(x), cy: py(y), r: 2.5, class: "dot" });
    c.append(el("title", {}, `${xName} = ${x}: ${y.toLocaleString("en-US")}`));
    svg.append(c);
  }
  svg.append(el("text", { x: PAD_L, y: H - 8, class: "tick" }, `${xName} = ${x0}`),
    el("text", { x: W - 8, y: H - 8, "text-anchor": "end", class: "tick" }, `${xName} = ${x1}`));
  return svg;
}
