// JSON with positions: where each value of the editor's text starts and ends, so that an error
// the service reports at a path (["layers", 3, "kernel_size"]) can be shown at that text, and a
// syntax error at the layer it falls in.

export class JsonSyntaxError extends Error {
  constructor(message, pos, path) { super(message); this.pos = pos; this.path = path; }
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;

/** Parse `text`: {value, spans} where spans maps a path key (pathKey) to [start, end). */
export function parseWithSpans(text) {
  const spans = new Map();
  let i = 0;
  const path = [];
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
  const fail = (why) => { throw new JsonSyntaxError(why, i, path.slice()); };

  function value() {
    ws();
    const start = i;
    const c = text[i];
    let v;
    if (c === "{") v = object();
    else if (c === "[") v = array();
    else if (c === '"') v = string();
    else if (c === "-" || (c >= "0" && c <= "9")) v = number();
    else if (text.startsWith("true", i)) { i += 4; v = true; }
    else if (text.startsWith("false", i)) { i += 5; v = false; }
    else if (text.startsWith("null", i)) { i += 4; v = null; }
    else fail(i >= text.length ? "unexpected end of the text" : `unexpected ${JSON.stringify(c)}`);
    spans.set(pathKey(path), [start, i]);
    return v;
  }
  function object() {
    const out = {};
    i++; ws();
    if (text[i] === "}") { i++; return out; }
    for (;;) {
      ws();
      if (text[i] !== '"') fail("expected a quoted key");
      const k = string();
      ws();
      if (text[i] !== ":") fail(`expected ':' after the key "${k}"`);
      i++;
      path.push(k);
      out[k] = value();
      path.pop();
      ws();
      if (text[i] === ",") { i++; continue; }
      if (text[i] === "}") { i++; return out; }
      fail("expected ',' or '}'");
    }
  }
  function array() {
    const out = [];
    i++; ws();
    if (text[i] === "]") { i++; return out; }
    for (;;) {
      path.push(out.length);
      out.push(value());
      path.pop();
      ws();
      if (text[i] === ",") { i++; continue; }
      if (text[i] === "]") { i++; return out; }
      fail("expected ',' or ']'");
    }
  }
  function string() {
    STRING.lastIndex = i;
    const m = STRING.exec(text);
    if (!m) fail("unterminated or invalid string");
    i += m[0].length;
    return JSON.parse(m[0]);
  }
  function number() {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("invalid number");
    i += m[0].length;
    return JSON.parse(m[0]);
  }

  const v = value();
  ws();
  if (i < text.length) fail("unexpected text after the JSON value");
  return { value: v, spans };
}

/** The key of a path in spans ("layers/3/kernel_size"). */
export function pathKey(path) { return path.map(String).join("/"); }

/** Line and column (1-based) of offset `pos` in `text`. */
export function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return { line, col: pos - before.lastIndexOf("\n") };
}
