// The page's small DOM, formatting and fetch helpers, shared by app.js and chart.js.
export const $ = (id) => document.getElementById(id);
export const DASH = "—";
const decimals = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** An SVG element appended to `parent`. */
export function svg(parent, tag, attrs, text = "") {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  parent.appendChild(node).textContent = text;
  return node;
}

export const number = (value) => (typeof value === "number" ? decimals.format(value) : DASH);
export const fixed = (value, digits) =>
  (typeof value === "number" ? value.toFixed(digits) : DASH);
export const percent = (share) =>
  (typeof share === "number" ? `${number(share * 100)}%` : DASH);
export const range = ({ lower, upper }) => `${lower}–${upper}`;

/** An ISO timestamp as "YYYY-MM-DD HH:MM:SS UTC" in a <time>, or a dash. */
export function when(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return iso || DASH;
  return el("time", { datetime: iso }, `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`);
}

/** GET `path`, or POST `body` to it as JSON: {ok, status, body}. Never throws. */
export async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  };
  try {
    const reply = await fetch(path, init);
    const fallback = { error: `HTTP ${reply.status} ${reply.statusText}` }; // not JSON: a proxy's
    return { ok: reply.ok, status: reply.status, body: await reply.json().catch(() => fallback) };
  } catch (failure) {
    return { ok: false, status: 0, body: { error: `No answer from the service (${failure})` } };
  }
}
