// Evaluate cnncalc's formulas in the browser, exactly.
//
// The grammar is the one cnncalc prints and reads (cnncalc.algebra.expr): integers, size names,
// + - * / // % **, brackets and floor, ceil, min, max. Values are BigInt integers, or exact
// fractions (class Frac) where a `/` leaves a remainder: `floor(a/b)` and `ceil(a/b)` round
// the exact quotient, `//` and `%` follow Python (the remainder takes the divisor's sign).
// A formula is parsed once (compile) into a closure; evaluating it is then a few BigInt
// operations, so a whole network's table re-evaluates in milliseconds.

export class FormulaError extends Error {}

/** An exact fraction n/d with d > 1 and gcd(n, d) = 1 (an integer is a plain BigInt). */
export class Frac {
  constructor(n, d) { this.n = n; this.d = d; }
  toString() { return `${this.n}/${this.d}`; }
}

const abs = (a) => (a < 0n ? -a : a);
function gcd(a, b) {
  a = abs(a); b = abs(b);
  while (b) { [a, b] = [b, a % b]; }
  return a;
}

/** n/d reduced: a BigInt when d divides n. */
function frac(n, d) {
  if (d === 0n) throw new FormulaError("division by zero");
  if (d < 0n) { n = -n; d = -d; }
  if (n % d === 0n) return n / d;
  const g = gcd(n, d);
  return new Frac(n / g, d / g);
}

const num = (v) => (typeof v === "bigint" ? v : v.n);
const den = (v) => (typeof v === "bigint" ? 1n : v.d);

function add(a, b) {
  if (typeof a === "bigint" && typeof b === "bigint") return a + b;
  return frac(num(a) * den(b) + num(b) * den(a), den(a) * den(b));
}
function sub(a, b) {
  if (typeof a === "bigint" && typeof b === "bigint") return a - b;
  return frac(num(a) * den(b) - num(b) * den(a), den(a) * den(b));
}
function mul(a, b) {
  if (typeof a === "bigint" && typeof b === "bigint") return a * b;
  return frac(num(a) * num(b), den(a) * den(b));
}
function div(a, b) { return frac(num(a) * den(b), den(a) * num(b)); }

/** The largest integer <= v. */
export function floor(v) {
  if (typeof v === "bigint") return v;
  const q = v.n / v.d; // truncates toward zero
  return v.n < 0n ? q - 1n : q;
}
/** The smallest integer >= v. */
export function ceil(v) {
  if (typeof v === "bigint") return v;
  const q = v.n / v.d;
  return v.n > 0n ? q + 1n : q;
}
/** Sign of a - b: -1, 0 or 1. */
export function cmp(a, b) {
  const d = sub(a, b);
  const n = num(d);
  return n < 0n ? -1 : n > 0n ? 1 : 0;
}
function floordiv(a, b) { return floor(div(a, b)); }
function mod(a, b) { return sub(a, mul(b, floordiv(a, b))); }
function pow(a, b) {
  if (typeof b !== "bigint") throw new FormulaError("a power must have an integer exponent");
  if (abs(b) > 64n) throw new FormulaError("exponent too large");
  if (b < 0n) return div(1n, pow(a, -b));
  if (typeof a === "bigint") return a ** b;
  return frac(a.n ** b, a.d ** b);
}

const BINARY = {
  "+": add, "-": sub, "*": mul, "/": div, "//": floordiv, "%": mod, "**": pow,
};
const FUNCTIONS = {
  floor: (args) => one("floor", args, floor),
  ceil: (args) => one("ceil", args, ceil),
  min: (args) => args.reduce((m, v) => (cmp(v, m) < 0 ? v : m)),
  max: (args) => args.reduce((m, v) => (cmp(v, m) > 0 ? v : m)),
};
function one(name, args, fn) {
  if (args.length !== 1) throw new FormulaError(`${name}() takes one argument`);
  return fn(args[0]);
}

const TOKEN = /\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|\/\/|[-+*/%(),]))/y;

function tokenize(text) {
  const out = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw new FormulaError(`cannot read ${JSON.stringify(text.slice(pos, pos + 10))}`);
    if (m[1] !== undefined) out.push({ k: "int", v: BigInt(m[1]) });
    else if (m[2] !== undefined) out.push({ k: "name", v: m[2] });
    else out.push({ k: "op", v: m[3] });
    pos = TOKEN.lastIndex;
  }
  return out;
}

// Recursive descent with Python's precedence: + - < * / // % < unary - < **
// (right-associative; -a**b is -(a**b), a**-b is allowed).
class Parser {
  constructor(text) { this.text = text; this.t = tokenize(text); this.i = 0; }
  peek() { return this.t[this.i]; }
  isOp(v) { const t = this.peek(); return t && t.k === "op" && t.v === v; }
  expect(v) {
    if (!this.isOp(v)) throw new FormulaError(`expected '${v}' in ${JSON.stringify(this.text)}`);
    this.i++;
  }
  parse() {
    const e = this.sum();
    if (this.i < this.t.length) throw new FormulaError(`unexpected '${this.peek().v}' in ${JSON.stringify(this.text)}`);
    return e;
  }
  sum() {
    let e = this.product();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.t[this.i++].v;
      e = bin(op, e, this.product());
    }
    return e;
  }
  product() {
    let e = this.unary();
    while (this.isOp("*") || this.isOp("/") || this.isOp("//") || this.isOp("%")) {
      const op = this.t[this.i++].v;
      e = bin(op, e, this.unary());
    }
    return e;
  }
  unary() {
    if (this.isOp("-")) { this.i++; const e = this.unary(); return (env) => sub(0n, e(env)); }
    if (this.isOp("+")) { this.i++; return this.unary(); }
    return this.power();
  }
  power() {
    const base = this.atom();
    if (this.isOp("**")) { this.i++; return bin("**", base, this.unary()); }
    return base;
  }
  atom() {
    const t = this.peek();
    if (!t) throw new FormulaError(`unexpected end of ${JSON.stringify(this.text)}`);
    this.i++;
    if (t.k === "int") { const v = t.v; return () => v; }
    if (t.k === "name") {
      if (this.isOp("(")) return this.call(t.v);
      const name = t.v;
      return (env) => {
        const v = env[name];
        if (v === undefined) throw new FormulaError(`no value for ${name}`);
        return v;
      };
    }
    if (t.v === "(") { const e = this.sum(); this.expect(")"); return e; }
    throw new FormulaError(`unexpected '${t.v}' in ${JSON.stringify(this.text)}`);
  }
  call(name) {
    const fn = FUNCTIONS[name];
    if (!fn) throw new FormulaError(`unknown function ${name}()`);
    this.expect("(");
    const args = [this.sum()];
    while (this.isOp(",")) { this.i++; args.push(this.sum()); }
    this.expect(")");
    return (env) => fn(args.map((a) => a(env)));
  }
}

function bin(op, l, r) {
  const f = BINARY[op];
  return (env) => f(l(env), r(env));
}

const compiled = new Map();

/** The formula `text` as a function of an environment {name: BigInt} (parsed once). */
export function compile(text) {
  let fn = compiled.get(text);
  if (!fn) {
    fn = new Parser(String(text)).parse();
    compiled.set(text, fn);
  }
  return fn;
}

/** The value of a JSON quantity (a number, a formula string, or null) in `env`. */
export function evaluate(value, env) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return BigInt(value);
  return compile(value)(env);
}

/** {name: number} as the BigInt environment evaluate() takes. */
export function environment(bindings) {
  const env = {};
  for (const [k, v] of Object.entries(bindings)) env[k] = BigInt(v);
  return env;
}

const GROUP = new Intl.NumberFormat("en-US");

/** A value for a person: digits grouped by thousands (11,689,512), a fraction as 32/3. */
export function format(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "bigint") return GROUP.format(v);
  return `${v.n}/${v.d}`;
}

/** A value as Number (for charts); a fraction as its quotient. */
export function toNumber(v) {
  if (typeof v === "bigint") return Number(v);
  return Number(v.n) / Number(v.d);
}

/** A value as Python's str() of the same integer (for tests); a fraction as n/d. */
export function plain(v) { return v === null ? null : String(v); }

// Constraints are lines in words: "H >= 6", "1 <= K <= 32", "H mod 16 == 0", "H in {5000}",
// "H in {3} or H mod 2 == 0", "... (layer: why)". check() answers true, false, or null where a
// line is not in this form (the service then decides).
const COMPARE = { ">=": (c) => c >= 0, "<=": (c) => c <= 0, "==": (c) => c === 0,
  "!=": (c) => c !== 0, ">": (c) => c > 0, "<": (c) => c < 0 };

function atomHolds(text, env) {
  const inSet = /^(.*) in \{(.*)\}$/.exec(text);
  if (inSet) {
    const v = evaluate(inSet[1], env);
    return inSet[2].split(",").some((s) => cmp(v, evaluate(s.trim(), env)) === 0);
  }
  const parts = text.replace(/ mod /g, " % ").split(/\s(>=|<=|==|!=|>|<)\s/);
  if (parts.length < 3) throw new FormulaError(`not a condition: ${text}`);
  for (let i = 0; i + 2 < parts.length; i += 2) {
    const c = cmp(evaluate(parts[i], env), evaluate(parts[i + 2], env));
    if (!COMPARE[parts[i + 1]](c)) return false;
  }
  return true;
}

/** Whether the constraint line holds in env (null: cannot tell here). */
export function check(line, env) {
  const text = line.replace(/\s+\([^()]*:[^()]*\)$/, "");
  try {
    return text.split(" or ").some((alt) => alt.split(" and ").every((a) => atomHolds(a.trim(), env)));
  } catch (e) {
    if (e instanceof FormulaError) return null;
    throw e;
  }
}
