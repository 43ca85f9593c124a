// The page's state in its URL: `/?arch=resnet18&N=1&H=224&W=224` for a zoo model; a custom
// architecture's JSON text goes in the fragment, deflated and base64url-encoded (`#a=...`), so
// that it never reaches a server log.

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function through(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** `text` deflated (raw) and base64url-encoded. */
export async function pack(text) {
  return b64url(await through(new TextEncoder().encode(text), new CompressionStream("deflate-raw")));
}

/** The text pack() encoded. */
export async function unpack(code) {
  return new TextDecoder().decode(await through(unb64url(code), new DecompressionStream("deflate-raw")));
}

/** {arch, bindings, text} from a location (text: the fragment's architecture, or null). */
export async function read(loc) {
  const q = new URLSearchParams(loc.search);
  const bindings = {};
  for (const [k, v] of q) if (k !== "arch" && /^-?\d+$/.test(v)) bindings[k] = Number(v);
  const frag = new URLSearchParams(loc.hash.replace(/^#/, ""));
  let text = null;
  if (frag.get("a")) {
    try { text = await unpack(frag.get("a")); } catch { text = null; }
  }
  return { arch: q.get("arch"), bindings, text };
}

/** The URL of a state: a zoo name, or the architecture's text in the fragment. */
export async function write(base, { arch, bindings, text }) {
  const q = new URLSearchParams();
  if (arch) q.set("arch", arch);
  for (const [k, v] of Object.entries(bindings)) q.set(k, String(v));
  const frag = arch ? "" : `#a=${await pack(text)}`;
  return `${base}?${q.toString()}${frag}`;
}
