// fleetcast's page: three views over the service's own JSON API, same origin, no library.
// The listing form is built from the API's schema (GET /docs.json), so its fields, bounds and
// error wording follow the service rather than a copy of them.
import { drawChart } from "./chart.js";
import { $, DASH, api, el, fixed, number, percent, range, when } from "./dom.js";

const VIEWS = ["price", "lookup", "model"];
const GRID_STEPS = 20; // what-if prices: 0.5x to 1.5x the recommended price, 21 points
const NUMBER_SYNTAX = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i; // not Number()'s "0x10" or " "
const VEHICLE_ID = { type: "integer", exclusiveMinimum: 0 }; // a positive integer
let listingRules = null; // components.schemas.Listing.properties, once /docs.json answered
let modelLoads = 0; // numbers each model-view load, so an older one finishing late is dropped

// Views: the URL's hash names the view shown, so links, the back button and reloads work.
function showView(focus) {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "price";
  for (const view of VIEWS) {
    $(view).hidden = view !== name;
    const link = document.querySelector(`nav a[href="#${view}"]`);
    if (view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (focus) $(`${name}-heading`).focus(); // a screen reader starts reading the new view
  if (name === "model") loadModel();
}

/** The lower and upper bound of a schema property, each {value, exclusive} or null. */
function bounds(rule) {
  const side = (inclusive, exclusive) => {
    if (typeof rule[exclusive] === "number") return { value: rule[exclusive], exclusive: true };
    // OpenAPI 3.0 writes an exclusive bound as the number plus `exclusiveX: true`.
    if (typeof rule[inclusive] !== "number") return null;
    return { value: rule[inclusive], exclusive: rule[exclusive] === true };
  };
  return { low: side("minimum", "exclusiveMinimum"), high: side("maximum", "exclusiveMaximum") };
}

/** Pydantic's message (as in the service's 400s) for the text `raw` breaking `rule`, or "". */
function problem(rule, raw, unparsable = false) {
  const integer = rule.type === "integer";
  const text = String(raw).trim();
  if (text === "" && !unparsable) return "Field required";
  if (unparsable || !NUMBER_SYNTAX.test(text)) {
    return integer ? "Input should be a valid integer, unable to parse string as an integer"
      : "Input should be a valid number, unable to parse string as a number";
  }
  const value = Number(text);
  if (!Number.isFinite(value)) return "Input should be a finite number";
  if (integer && !Number.isInteger(value)) {
    return "Input should be a valid integer, got a number with a fractional part";
  }
  const { low, high } = bounds(rule);
  const orEqual = (bound) => (bound.exclusive ? "" : "or equal to ");
  if (low && (low.exclusive ? value <= low.value : value < low.value)) {
    return `Input should be greater than ${orEqual(low)}${low.value}`;
  }
  if (high && (high.exclusive ? value >= high.value : value > high.value)) {
    return `Input should be less than ${orEqual(high)}${high.value}`;
  }
  return "";
}

// ---- "Price my listing"

const isFlag = (rule) => rule.type === "integer" && rule.minimum === 0 && rule.maximum === 1;

function buildField(name, rule, example) {
  const described = `hint-${name} error-${name}`;
  const input = el("input", { id: `field-${name}`, name, "aria-describedby": described });
  if (isFlag(rule)) {
    input.type = "checkbox";
    input.checked = example === 1;
  } else {
    Object.assign(input, { type: "number", required: true, value: example ?? "" });
    input.step = rule.type === "integer" ? "1" : "any";
    input.inputMode = rule.type === "integer" ? "numeric" : "decimal";
  }
  const label = el("label", { for: input.id }, rule.title || name);
  return el("div", { class: isFlag(rule) ? "field flag" : "field" },
    ...(isFlag(rule) ? [input, label] : [label, input]),
    el("p", { id: `hint-${name}`, class: "hint" }, rule.description || ""),
    el("p", { id: `error-${name}`, class: "error" }));
}

async function buildForm() {
  const reply = await api("/docs.json");
  const schema = reply.ok ? reply.body?.components?.schemas?.Listing : null;
  if (!schema?.properties) {
    const why = reply.ok ? "it has no Listing schema" : reply.body.error;
    $("schema-error").textContent = `The form needs the API's schema (GET /docs.json): ${why}`;
    $("price-submit").disabled = true;
    return;
  }
  listingRules = schema.properties;
  const example = schema.example || {};
  $("listing-fields").replaceChildren(...Object.entries(listingRules).map(
    ([name, rule]) => buildField(name, rule, example[name])));
}

/** The form's listing, and pydantic's message for each field that is wrong. */
function readListing() {
  const listing = {};
  const errors = {};
  for (const [name, rule] of Object.entries(listingRules)) {
    const input = $(`field-${name}`);
    if (input.type === "checkbox") {
      listing[name] = input.checked ? 1 : 0;
      continue;
    }
    // A number input's value is "" both when empty and when it holds text it cannot parse.
    const message = problem(rule, input.value, input.validity.badInput);
    if (message) errors[name] = message;
    else listing[name] = Number(input.value);
  }
  return { listing, errors };
}

function showFieldErrors(errors) {
  for (const name of Object.keys(listingRules)) {
    $(`error-${name}`).textContent = errors[name] || "";
    if (errors[name]) $(`field-${name}`).setAttribute("aria-invalid", "true");
    else $(`field-${name}`).removeAttribute("aria-invalid");
  }
}

/** An error body: each field error beside its field (a batch's loc ends with the field too);
 * anything else (a 503, a derived feature's 400) in the result area. */
function showPriceError(body) {
  const errors = {};
  const other = [];
  for (const item of body.detail || []) {
    const field = [...item.loc].reverse().find((part) => part in listingRules);
    if (field) errors[field] ??= item.msg;
    else other.push(`${item.loc.join(".")}: ${item.msg}`);
  }
  showFieldErrors(errors);
  const titles = Object.keys(errors).map((field) => listingRules[field].title || field);
  const check = titles.length ? `Check ${titles.join(", ")}.` : "";
  $("price-error").textContent = other.length ? other.join("; ") : check || body.error;
  if (titles.length) $(`field-${Object.keys(errors)[0]}`).focus();
}

function showForecast(prefix, body) {
  const { level } = body.interval;
  $(`${prefix}-value`).textContent = body.predicted_reservations.toFixed(1);
  $(`${prefix}-interval`).textContent =
    `${range(body.interval)} reservations (${Math.round(level * 100)}% range)`;
  $(`${prefix}-version`).textContent = body.model_version;
  const warnings = body.warnings ?? [];
  const list = $(`${prefix}-warnings`);
  list.replaceChildren(...warnings.map((w) => el("li", {}, warningText(w))));
  list.closest(".warnings").hidden = !warnings.length;
}

/** An input the model has no evidence for: the service answered it, and says so. */
function warningText({ field, value, low, high }) {
  const name = listingRules?.[field]?.title ?? field;
  return `${name} ${number(value)} is outside the training range (${number(low)}–${number(high)}):`
    + " the forecast is an extrapolation.";
}

async function onPriceSubmit(event) {
  event.preventDefault();
  if (!listingRules) return;
  const { listing, errors } = readListing();
  $("price-result").hidden = $("whatif").hidden = true;
  if (Object.keys(errors).length) {
    const detail = Object.entries(errors).map(([field, msg]) => ({ loc: [field], msg }));
    return showPriceError({ detail }); // the service would refuse it: send nothing
  }
  showFieldErrors({});
  $("price-error").textContent = "";
  $("price-submit").disabled = true;
  const reply = await api("/predict", listing);
  if (reply.ok) {
    showForecast("forecast", reply.body);
    $("price-result").hidden = false;
    await drawWhatIf(listing, reply.body);
  } else {
    showPriceError(reply.body);
  }
  $("price-submit").disabled = false;
}

// ---- the what-if chart: one /predict_batch over a grid of prices

function priceGrid({ recommended_price: recommended }) {
  // Multiplying first keeps a round price's grid round (33, not 33.000000000000004).
  const grid = Array.from({ length: GRID_STEPS + 1 },
    (_, step) => (recommended * (GRID_STEPS / 2 + step)) / GRID_STEPS);
  return grid.filter((price) => !problem(listingRules.actual_price, price)); // schema's bounds
}

async function drawWhatIf(listing, single) {
  const grid = priceGrid(listing);
  const listings = grid.map((price) => ({ ...listing, actual_price: price }));
  const reply = await api("/predict_batch", { listings });
  $("whatif").hidden = false;
  $("whatif-plot").replaceChildren();
  $("whatif-table").tBodies[0].replaceChildren();
  if (!reply.ok) {
    $("whatif-summary").textContent = `No what-if chart: ${reply.body.error}`;
    return;
  }
  const { predicted_reservations: forecasts, intervals } = reply.body;
  const points = grid.map((price, i) => ({ price, forecast: forecasts[i], ...intervals[i] }));
  $("whatif-summary").textContent = $("whatif-desc").textContent = summary(points, listing, single);
  drawChart($("whatif-plot"), points, listing);
  $("whatif-table").tBodies[0].replaceChildren(...points.map((p) => el("tr", {},
    el("th", { scope: "row" }, number(p.price)), el("td", {}, fixed(p.forecast, 1)),
    el("td", {}, range(p)))));
}

function summary(points, listing, single) {
  const [first, last] = [points[0], points.at(-1)];
  const [from, to] = [fixed(first.forecast, 1), fixed(last.forecast, 1)];
  return `At your price (${number(listing.actual_price)}) the forecast is `
    + `${fixed(single.predicted_reservations, 1)} reservations. From ${number(first.price)} to `
    + `${number(last.price)} it goes from ${from} to ${to}.`;
}

// ---- "Look up a vehicle"

const errorText = (body) => (body.detail?.length
  ? body.detail.map((d) => `${d.loc.join(".")}: ${d.msg}`).join("; ") : body.error);

function showFeatures(body) {
  const table = $("lookup-features");
  table.caption.textContent =
    `Online features of vehicle ${body.vehicle_id} (snapshot ${body.snapshot_id ?? DASH})`;
  table.tBodies[0].replaceChildren(...Object.entries(body.features).map(([name, value]) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, number(value)))));
  table.hidden = false;
}

async function onLookupSubmit(event) {
  event.preventDefault();
  const raw = $("vehicle-id").value;
  const message = problem(VEHICLE_ID, raw);
  $("lookup-forecast").hidden = $("lookup-features").hidden = true;
  $("lookup-error").textContent = message;
  if (message) return $("vehicle-id").setAttribute("aria-invalid", "true");
  $("vehicle-id").removeAttribute("aria-invalid");
  const id = Number(raw.trim());
  $("lookup-submit").disabled = true;
  const [stored, forecast] = await Promise.all([
    api(`/vehicles/${id}`), api("/predict_by_id", { vehicle_id: id })]);
  if (stored.ok) showFeatures(stored.body);
  if (forecast.ok) showForecast("lookup", forecast.body);
  $("lookup-forecast").hidden = !forecast.ok;
  // Both answers usually fail alike (an unknown id is a 404 from each): say it once.
  const failures = new Set([stored, forecast].filter((r) => !r.ok).map((r) => errorText(r.body)));
  $("lookup-error").textContent = [...failures].join(" ");
  $("lookup-submit").disabled = false;
}

// ---- "The model": champion card, promotion history, workers, latest drift report

const scoreRow = (name, scores) => el("tr", {}, el("th", { scope: "row" }, name),
  el("td", {}, fixed(scores?.cv?.mae, 3)), el("td", {}, fixed(scores?.holdout?.mae, 3)));

/** The shadow (the `challenger` alias, scored beside the champion off the response path) and
 * its latest live comparison with the champion, as the drift flow measured it. */
function shadowFact(shadow) {
  if (!shadow?.version) return "none";
  const live = shadow.live;
  if (!live || !live.pairs) return el("span", {}, `version ${shadow.version}`,
    el("small", { class: "method" }, "no live comparison yet"));
  const diff = `${fixed(live.mae_diff, 3)} (${fixed(live.mae_diff_low, 3)} to ${fixed(live.mae_diff_high, 3)})`;
  return el("span", {}, `version ${shadow.version}`, el("small", { class: "method" },
    `live MAE ${fixed(live.mae, 3)} vs champion's ${fixed(live.champion_mae, 3)} on `
    + `${live.pairs} requests; shadow minus champion ${diff}`));
}

function showChampion(reply) {
  const info = reply.ok ? reply.body : {};
  const interval = info.interval || {};
  const width = interval.holdout_width;
  const facts = {
    version: info.version, family: info.family, snapshot: info.snapshot_id,
    trained: when(info.trained_at), coverage: percent(interval.holdout_coverage),
    interval: interval.level && el("span", {}, `${percent(interval.level)} ranges`,
      el("small", { class: "method" }, interval.method)),
    width: typeof width === "number" && `${fixed(width, 1)} reservations`,
    shadow: reply.ok && shadowFact(info.shadow),
  };
  for (const [id, value] of Object.entries(facts)) $(`model-${id}`).replaceChildren(value || DASH);
  $("model-error").textContent = reply.ok ? "" : reply.body.error;
  const { reference, median } = info.yardsticks || {};
  $("model-scores").tBodies[0].replaceChildren(
    scoreRow(info.version ? `Champion (version ${info.version})` : "Champion", info),
    scoreRow("Seed's reference model", reference), scoreRow("Median baseline", median));
}

function historyItem(event) {
  const what = event.kind === "rolled_back" ? `Rolled back to version ${event.version}`
    : `Version ${event.version} ${event.kind}`;
  const replaced = event.replaced ? `, replacing version ${event.replaced}` : "";
  return el("li", { class: `event ${event.kind}` }, when(event.at), " ",
    el("strong", {}, `${what}${replaced}`), event.reason ? `: ${event.reason}` : "");
}

function showHistory(reply) {
  const events = reply.ok ? reply.body.events || [] : [];
  $("history-error").textContent = reply.ok ? "" : reply.body.error;
  const none = reply.ok && !events.length ? [el("li", {}, "No promotion decisions yet.")] : [];
  $("history").replaceChildren(...none, ...events.map(historyItem));
}

function workerRow(worker, answeredBy) {
  const reload = worker.last_reload || {};
  const answered = worker.pid === answeredBy ? " (answered)" : "";
  const pid = el("th", { scope: "row" }, `${worker.pid}${answered}`);
  return el("tr", { "data-pid": worker.pid }, pid,
    el("td", {}, worker.version ?? DASH), el("td", {}, worker.shadow_version ?? DASH),
    el("td", {}, when(worker.loaded_at)),
    el("td", {}, when(reload.at)), el("td", {}, reload.trigger ?? DASH),
    el("td", {}, reload.outcome ?? DASH));
}

function showWorkers(reply) {
  const workers = reply.ok ? reply.body.workers || [] : [];
  $("workers-error").textContent = reply.ok ? "" : reply.body.error;
  const rows = workers.map((worker) => workerRow(worker, reply.body.answered_by));
  $("workers").tBodies[0].replaceChildren(...rows);
}

function showDrift(reply) {
  const report = reply.body;
  $("drift").replaceChildren(...(reply.ok ? [
    el("a", { id: "drift-link", href: report.url }, "Latest drift report"),
    ` (${report.name}, `, when(report.at), `, champion version ${report.champion_version})`,
    report.message ? `: ${report.message}` : "",
  ] : [el("span", { id: "drift-message" }, report.error)]));
}

const MODEL_PARTS = [
  ["/model", showChampion], ["/model/history", showHistory],
  ["/workers", showWorkers], ["/drift/latest", showDrift],
];

async function loadModel() {
  const ticket = ++modelLoads;
  $("model").setAttribute("aria-busy", "true");
  $("model-status").textContent = "Loading…";
  const replies = await Promise.all(MODEL_PARTS.map(([path]) => api(path)));
  if (ticket !== modelLoads) return;
  MODEL_PARTS.forEach(([, show], i) => show(replies[i])); // each part shows its own error
  $("model").setAttribute("aria-busy", "false");
  $("model-status").textContent = `Updated at ${new Date().toLocaleTimeString("en-GB")}.`;
}

// A module runs deferred: the document is parsed when it runs.
$("listing-form").addEventListener("submit", onPriceSubmit);
$("lookup-form").addEventListener("submit", onLookupSubmit);
$("model-refresh").addEventListener("click", loadModel);
window.addEventListener("hashchange", () => showView(true));
showView(false);
buildForm();
