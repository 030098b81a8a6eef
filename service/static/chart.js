// The what-if chart: an SVG line of forecasts over prices with its range as a band; no library.
import { fixed, number, range, svg } from "./dom.js";

/** About five round ticks (1, 2 or 5 times a power of ten) within [low, high], or with
 * `cover` up to the first tick at or above `high`. */
function ticks(low, high, cover = false) {
  const rough = (high - low || 1) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const [first, last] = [Math.ceil(low / step), (cover ? Math.ceil : Math.floor)(high / step)];
  const tick = (i) => Number(((first + i) * step).toPrecision(12)); // 0.30000000000000004: 0.3
  return Array.from({ length: last - first + 1 }, (_, i) => tick(i));
}

const scale = ([d0, d1], [r0, r1]) => (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);

function drawAxes(chart, x, y, box, [xTicks, yTicks]) {
  const axes = svg(chart, "g", { class: "axes" });
  svg(axes, "path", { d: `M${box.left},${box.top}V${box.bottom}H${box.right}` });
  for (const t of xTicks) {
    svg(axes, "line", { x1: x(t), x2: x(t), y1: box.bottom, y2: box.bottom + 5 });
    svg(axes, "text", { x: x(t), y: box.bottom + 18, "text-anchor": "middle" }, number(t));
  }
  for (const t of yTicks) {
    svg(axes, "line", { class: "grid", x1: box.left, x2: box.right, y1: y(t), y2: y(t) });
    svg(axes, "text", { x: box.left - 8, y: y(t) + 4, "text-anchor": "end" }, number(t));
  }
  const middle = (box.left + box.right) / 2;
  svg(axes, "text", { class: "label", x: middle, y: box.bottom + 38, "text-anchor": "middle" },
    "Daily price");
  svg(axes, "text", { class: "label", x: 4, y: box.top - 10 }, "Reservations");
}

function marker(chart, kind, price, words, { x, box, anchor }) {
  const group = svg(chart, "g", { class: `marker ${kind}`, "data-price": price });
  svg(group, "line", { x1: x(price), x2: x(price), y1: box.top, y2: box.bottom });
  const labelX = x(price) + (anchor === "end" ? -4 : 4);
  const labelY = box.top + (kind === "current" ? 26 : 12); // two rows: labels never overprint
  svg(group, "text", { x: labelX, y: labelY, "text-anchor": anchor }, `${words} ${number(price)}`);
}

/** The what-if chart in `chart` (an <svg>): the forecast over `points` with its range as a
 * band, and markers at the listing's own and recommended prices. */
export function drawChart(chart, points, listing) {
  const box = { left: 52, right: 624, top: 28, bottom: 250 };
  const prices = [...points.map((p) => p.price), listing.actual_price];
  const [xLow, xHigh] = [Math.min(...prices), Math.max(...prices)];
  const yTicks = ticks(0, Math.max(1, ...points.map((p) => Math.max(p.upper, p.forecast))), true);
  const x = scale([xLow, xHigh], [box.left, box.right]);
  const y = scale([0, yTicks.at(-1)], [box.bottom, box.top]);
  drawAxes(chart, x, y, box, [ticks(xLow, xHigh), yTicks]);
  const at = (price, value) => `${x(price).toFixed(1)},${y(value).toFixed(1)}`;
  const edge = [...points.map((p) => at(p.price, p.upper)),
    ...[...points].reverse().map((p) => at(p.price, p.lower))];
  svg(chart, "path", { class: "band", d: `M${edge.join("L")}Z` });
  const line = points.map((p) => at(p.price, p.forecast));
  svg(chart, "path", { class: "line", d: `M${line.join("L")}` });
  for (const p of points) {
    const dot = svg(chart, "circle", { class: "point", cx: x(p.price), cy: y(p.forecast), r: 3.5,
      "data-price": p.price, "data-forecast": p.forecast });
    svg(dot, "title", {}, `${number(p.price)}: ${fixed(p.forecast, 1)} reservations (${range(p)})`);
  }
  // Each label points away from the other marker.
  const cheaper = listing.actual_price < listing.recommended_price;
  const place = (left) => ({ x, box, anchor: left ? "end" : "start" });
  marker(chart, "recommended", listing.recommended_price, "recommended", place(!cheaper));
  marker(chart, "current", listing.actual_price, "yours", place(cheaper));
}
