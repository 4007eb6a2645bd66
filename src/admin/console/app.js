// The console's page logic (an ES module, no build step): login, routing, the refresh loop,
// and one section per view (events and their trace, dead letters, rules, try it).

import { $, h, clear, show, note, fmtTime, timeEl, localInputToMs, badge, httpBadge, pretty, compact,
  userLabel, userFull } from "./dom.js";
import { TOKEN_KEY, session, Unauthorized, api, errText } from "./api.js";
import { reconcile, requestBlock, attemptsTable } from "./parts.js";
import { reasonWords, redrivable } from "./reasons.js";
import { refreshDeadLetters, resetDeadLetters } from "./deadletters.js";
import { refreshProviders, resetProviders } from "./providers.js";
import { refreshOverview, resetOverview } from "./overview.js";
import { refreshRejections, refreshShadow, resetLists } from "./lists.js";

const REFRESH_MS = 2000;
const PAGE = 50;
// ---------- login / logout ----------
function showLogin(message) {
  stopTimer();
  show($("app"), false);
  show($("login"), true);
  note($("login-message"), message || "");
  note($("login-error"), "");
  $("login-token").value = "";
  $("login-token").focus();
}
function sessionExpired() {
  if (!session.token) return;
  session.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  resetState();
  showLogin("The admin token was refused (401). Log in again.");
}
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const candidate = $("login-token").value.trim();
  const button = ev.target.querySelector("button[type=submit]");
  note($("login-error"), "");
  if (!candidate) { note($("login-error"), "Enter the admin token."); return; }
  button.disabled = true;
  try {
    await api("GET", "/admin/rules", undefined, candidate);
    session.token = candidate;
    sessionStorage.setItem(TOKEN_KEY, session.token);
    startApp();
  } catch (e) {
    note($("login-error"), e instanceof Unauthorized ? "That token was refused. Check [server] admin_token."
      : "Could not log in: " + errText(e));
    $("login-token").select();
  } finally { button.disabled = false; }
});
$("logout").addEventListener("click", () => {
  session.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  resetState();
  showLogin("Logged out.");
});

// ---------- routing and the refresh loop ----------
let view = "events";
let openEventId = null;
let timer = null;
let ticking = false;

const VIEWS = ["overview", "events", "providers", "dead-letters", "rejections", "rules", "shadow", "try"];
function parseHash() {
  const m = location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
  const v = VIEWS.includes(m[0]) ? m[0] : "events";
  const id = v === "events" && m[1] ? decodeURIComponent(m[1]) : null;
  return { v, id };
}
function go(v, id) {
  const target = v === "events" ? eventsHash(id) : "#/" + v + (id ? "/" + encodeURIComponent(id) : "");
  if (location.hash !== target) location.hash = target; else route();
}
window.addEventListener("hashchange", () => { if (session.token) route(); });
document.querySelectorAll("header nav button").forEach((b) =>
  b.addEventListener("click", () => go(b.dataset.view, b.dataset.view === "events" ? openEventId : null)));

function route() {
  const { v, id } = parseHash();
  view = v;
  document.querySelectorAll("header nav button").forEach((b) => {
    if (b.dataset.view === v) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  });
  for (const name of VIEWS) show($("view-" + name), name === v);
  if (v === "events") {
    if (compact(urlEventFilters()) !== compact(events.filters)) {
      restoreFilters();
      events.gen++; events.loaded = false; events.list = []; events.cursor = null; events.older = false;
    }
    if (!events.loaded) loadEvents();
    if (id !== openEventId) openTrace(id);
  }
  if (v === "dead-letters") refreshDeadLetters();
  if (v === "providers") refreshProviders();
  if (v === "overview") refreshOverview();
  if (v === "rejections") refreshRejections();
  if (v === "shadow") refreshShadow();
  if (v === "rules") refreshRules();
  if (v === "try") $("try-source").focus();
}
function startApp() {
  show($("login"), false);
  show($("app"), true);
  restoreFilters();
  route();
  startTimer();
}
function startTimer() {
  stopTimer();
  timer = setInterval(tick, REFRESH_MS);
}
function stopTimer() { if (timer) clearInterval(timer); timer = null; }
async function tick() {
  if (!session.token || ticking || document.hidden) return;
  ticking = true;
  try {
    if (view === "events") {
      await Promise.all([refreshEvents(), openEventId ? refreshTrace() : null]);
    } else if (view === "dead-letters") await refreshDeadLetters();
    else if (view === "providers") await refreshProviders();
    else if (view === "overview") await refreshOverview();
    else if (view === "rejections") await refreshRejections();
    else if (view === "shadow") await refreshShadow();
    else if (view === "rules") await refreshRules();
    $("live").textContent = "updated " + fmtTime(Date.now()).slice(11);
  } catch (e) { reportBug(e); } finally { ticking = false; }
}
function resetState() {
  events = newEventsState();
  clear($("events-list")); clear($("trace")); show($("trace"), false);
  $("events-layout").classList.add("no-trace");
  openEventId = null; traceSig = null;
  resetDeadLetters(); resetProviders(); resetOverview(); resetLists(); clear($("rules-list"));
  rulesSig = null;
}


// ---------- events ----------
function newEventsState() { return { list: [], cursor: null, loaded: false, gen: 0, filters: {}, older: false }; }
let events = newEventsState();
const knownSources = new Set();

const EVENT_FILTERS = ["q", "user", "kind", "status", "source", "provider", "action", "since", "until"];
function readFilters() {
  const f = {};
  for (const k of ["q", "user", "kind", "status", "source", "provider", "action"]) {
    const v = $("f-" + k).value.trim();
    if (v) f[k] = v;
  }
  for (const k of ["since", "until"]) {
    const ms = localInputToMs($("f-" + k).value);
    if (ms !== null) f[k] = String(ms);
  }
  return f;
}
// The events view's filters live in the URL (#/events[/<id>]?q=...): shareable, and a reload
// shows the same view.
function urlEventFilters() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const f = {};
  for (const k of EVENT_FILTERS) { const v = (q.get(k) || "").trim(); if (v) f[k] = v; }
  return f;
}
function toLocalInput(ms) {
  const d = new Date(Number(ms));
  if (!ms || isNaN(d.getTime())) return "";
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + "T" + pad2(d.getHours()) + ":" +
    pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}
const pad2 = (n) => String(n).padStart(2, "0");
function restoreFilters() {
  const f = urlEventFilters();
  for (const k of EVENT_FILTERS) {
    $("f-" + k).value = k === "since" || k === "until" ? toLocalInput(f[k]) : f[k] || "";
  }
  events.filters = readFilters();
}
function eventsHash(id) {
  const q = new URLSearchParams(events.filters).toString();
  return "#/events" + (id ? "/" + encodeURIComponent(id) : "") + (q ? "?" + q : "");
}
function applyFilters() {
  events.filters = readFilters();
  const target = eventsHash(openEventId);
  if (location.hash !== target) history.replaceState(null, "", target);
  events.gen++;
  events.loaded = false;
  events.list = []; events.cursor = null; events.older = false;
  loadEvents();
}
$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); applyFilters(); });
$("f-kind").addEventListener("change", applyFilters);
$("f-status").addEventListener("change", applyFilters);
$("filters-clear").addEventListener("click", () => {
  for (const k of EVENT_FILTERS) $("f-" + k).value = "";
  applyFilters();
});

function eventsQuery(extra) {
  const q = new URLSearchParams(Object.assign({}, events.filters, extra));
  return "/admin/events?" + q.toString();
}
async function fetchEvents(extra) {
  const gen = events.gen;
  try {
    const { data } = await api("GET", eventsQuery(extra));
    if (gen !== events.gen) return null;
    note($("events-error"), "");
    return data;
  } catch (e) {
    if (!(e instanceof Unauthorized) && gen === events.gen) note($("events-error"), "Could not list events: " + errText(e));
    return null;
  }
}
async function loadEvents() {
  const data = await fetchEvents({ limit: PAGE });
  if (!data) return;
  events.list = data.events; events.cursor = data.next_cursor; events.loaded = true; events.older = false;
  events.total = data.total || 0; events.exact = data.total_exact !== false; events.fresh = 0;
  firstRender = true; // a new list: only rows that arrive later are highlighted
  renderEvents();
}
async function refreshEvents() {
  if (!events.loaded) return loadEvents();
  const old = events.list;
  const limit = Math.min(500, Math.max(PAGE, old.length));
  const data = await fetchEvents({ limit });
  if (!data) return;
  if (events.list.length > 0) {
    // New events do not move the rows under the pointer: they are counted in a banner, and
    // the rows shown are only updated in place.
    const top = events.list[0].event_id;
    const at = data.events.findIndex((e) => e.event_id === top);
    events.fresh = at >= 0 ? at : Math.max(0, (data.total || 0) - events.total);
    const latest = new Map(data.events.map((e) => [e.event_id, e]));
    events.list = events.list.map((e) => latest.get(e.event_id) || e);
    renderEvents();
    return;
  }
  events.total = data.total || 0; events.exact = data.total_exact !== false;
  let merged = data.events, cursor = data.next_cursor;
  const last = merged[merged.length - 1];
  if (last && events.older) {
    // Keep the older pages the operator loaded below the refreshed top.
    const i = events.list.findIndex((e) => e.event_id === last.event_id);
    if (i >= 0 && i < events.list.length - 1) {
      const seen = new Set(merged.map((e) => e.event_id));
      merged = merged.concat(events.list.slice(i + 1).filter((e) => !seen.has(e.event_id)));
      cursor = events.cursor;
    }
  }
  events.list = merged; events.cursor = cursor;
  renderEvents();
}
$("events-older").addEventListener("click", async (ev) => {
  if (!events.cursor) return;
  ev.target.disabled = true;
  try {
    const data = await fetchEvents({ limit: PAGE, cursor: events.cursor });
    if (!data) return;
    const seen = new Set(events.list.map((e) => e.event_id));
    events.list = events.list.concat(data.events.filter((e) => !seen.has(e.event_id)));
    events.cursor = data.next_cursor; events.older = true;
    renderEvents();
  } finally { ev.target.disabled = false; }
});

$("events-new").addEventListener("click", () => {
  events.fresh = 0;
  loadEvents();
  $("view-events").scrollIntoView();
});

// "Skip to content" (the page's first Tab stop): past the header and the filters, to the
// events list on the Events page (the next Tab is the first event), else to the page's
// section. The page's address stays as it is (it holds the view and its filters).
$("skip-link").addEventListener("click", (ev) => {
  ev.preventDefault();
  if (!session.token) { $("login-token").focus(); return; }
  const target = view === "events" ? $("events-table") : $("view-" + view);
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus();
});

// Keyboard: "/" focuses the search, Escape closes what is open (a confirmation, the trace).
document.addEventListener("keydown", (ev) => {
  const typing = ev.target.closest && ev.target.closest("input, textarea, select");
  if (ev.key === "/" && !typing && !ev.ctrlKey && !ev.metaKey && !ev.altKey && session.token) {
    ev.preventDefault();
    if (view !== "events") go("events", openEventId);
    $("f-q").focus();
    $("f-q").select();
  } else if (ev.key === "Escape") {
    if (!$("dl-confirm").hidden) { $("dl-confirm-no").click(); return; }
    if (typing) { ev.target.blur(); return; }
    if (view === "events" && openEventId) go("events");
  }
});

let firstRender = true;
function renderEvents() {
  const tbody = $("events-list");
  for (const e of events.list) {
    if (e.source && !knownSources.has(e.source)) {
      knownSources.add(e.source);
      $("known-sources").appendChild(h("option", { value: e.source }));
    }
  }
  const animate = !firstRender && tbody.children.length > 0;
  reconcile(tbody, events.list, (e) => e.event_id, compact, (e, isNew) => eventRow(e, isNew && animate));
  firstRender = false;
  for (const tr of tbody.children) {
    const sel = tr.dataset.key === openEventId;
    tr.classList.toggle("selected", sel);
    if (sel) tr.setAttribute("aria-current", "true"); else tr.removeAttribute("aria-current");
  }
  show($("events-empty"), events.list.length === 0);
  show($("events-older"), !!events.cursor);
  // Past 10,000 matches the server stops counting (total_exact: false).
  $("events-count").textContent = !events.list.length ? ""
    : events.exact === false ? events.list.length + " shown of " + (events.total || 0).toLocaleString("en") + "+ events"
    : events.list.length + " shown of " + (events.total || 0).toLocaleString("en") + " matching";
  const fresh = events.fresh || 0;
  $("events-new").textContent = fresh === 1 ? "1 new event: show it" : fresh + " new events: show them";
  show($("events-new"), fresh > 0);
}
function eventRow(e, fresh) {
  const open = () => go("events", e.event_id);
  return h("tr", { class: "event" + (fresh ? " fresh" : ""), testid: "event-row", "data-event-id": e.event_id,
      "data-status": e.status, onclick: open },
    h("td", null,
      h("button", { type: "button", class: "link open", testid: "event-open", title: "Open the trace",
        "aria-label": "Open the trace of " + e.event_id, onclick: (ev) => { ev.stopPropagation(); open(); } },
        timeEl(e.received_at)),
      h("span", { class: "sub mono", text: e.event_id })),
    h("td", null, h("span", { text: e.source }), h("span", { class: "sub", text: e.kind })),
    // One line each, cut with an ellipsis: who, what they wrote, what went wrong first.
    h("td", { class: "user" },
      h("span", { class: "line", title: userFull(e.user), text: userLabel(e.user) }),
      e.text ? h("span", { class: "line event-text", testid: "event-text", title: e.text, text: e.text }) : null,
      e.error ? h("span", { class: "line event-error", testid: "event-error", title: e.error, text: e.error }) : null),
    h("td", null, badge(e.status, "event-status"),
      h("span", { class: "sub", testid: "event-actions", title: "actions the rules decided for this event",
        text: (e.actions || 0) === 1 ? "1 action" : (e.actions || 0) + " actions" })));
}

// ---------- trace ----------
let traceSig = null;
let traceNotes = { dry: null, message: null, confirming: false };

function openTrace(id) {
  openEventId = id;
  traceSig = null;
  traceNotes = { dry: null, message: null, confirming: false };
  const panel = $("trace");
  clear(panel);
  $("events-layout").classList.toggle("no-trace", !id);
  show(panel, !!id);
  if (events.loaded) renderEvents();
  if (!id) return;
  panel.appendChild(h("div", { class: "panel-body muted", text: "Loading " + id + "…" }));
  if (window.matchMedia("(max-width: 1100px)").matches) panel.scrollIntoView({ block: "start" });
  refreshTrace();
}
async function refreshTrace() {
  const id = openEventId;
  if (!id) return;
  let data;
  try { data = (await api("GET", "/admin/events/" + encodeURIComponent(id))).data; }
  catch (e) {
    if (e instanceof Unauthorized || id !== openEventId) return;
    const sig = "error:" + errText(e);
    if (traceSig === sig) return;
    traceSig = sig;
    const panel = $("trace");
    clear(panel);
    panel.appendChild(traceHeader(id, null));
    panel.appendChild(h("div", { class: "panel-body" },
      h("div", { class: "note error", testid: "trace-error", role: "alert",
        text: e.status === 404 ? "No event " + id + " is stored (it may have been purged)." : "Could not load the trace: " + errText(e) })));
    return;
  }
  if (id !== openEventId) return;
  const sig = compact(data);
  if (sig === traceSig) return;
  traceSig = sig;
  renderTrace(data);
}
function rerenderTrace() {
  if (traceSig && !traceSig.startsWith("error:")) renderTrace(JSON.parse(traceSig));
}
function traceHeader(id, status) {
  const close = h("button", { type: "button", testid: "trace-close", "aria-label": "Close the trace",
    onclick: () => go("events"), text: "Close" });
  return h("div", { class: "panel-head trace-head" },
    h("h2", null, "Trace"),
    h("code", { testid: "trace-event-id", text: id }),
    status ? badge(status, "trace-status") : null,
    h("span", { class: "grow" }),
    status ? h("button", { type: "button", testid: "replay-dry-run", onclick: dryRun, text: "Replay (dry run)" }) : null,
    status ? h("button", { type: "button", class: "danger", testid: "replay",
      onclick: () => { traceNotes.confirming = true; rerenderTrace(); }, text: "Replay" }) : null,
    close);
}
function renderTrace(t) {
  const panel = $("trace");
  // Keep what the operator opened and where they scrolled.
  const openKeys = new Set(Array.from(panel.querySelectorAll("details[data-key]"))
    .filter((d) => d.open).map((d) => d.dataset.key));
  const closedKeys = new Set(Array.from(panel.querySelectorAll("details[data-key]"))
    .filter((d) => !d.open).map((d) => d.dataset.key));
  const scroll = panel.scrollTop;
  clear(panel);
  const ev = t.event || {};
  panel.appendChild(traceHeader(ev.event_id || openEventId, t.status));
  const body = h("div", { class: "panel-body" });
  panel.appendChild(body);

  if (traceNotes.confirming) {
    body.appendChild(h("div", { class: "confirm", role: "alertdialog", "aria-label": "Confirm replay",
        testid: "replay-confirm-box" },
      h("p", { class: "gap-below" },
        "Run the current rules on this event again and carry out the actions they decide? Providers will be called."),
      h("div", { class: "row" },
        h("button", { type: "button", class: "danger", testid: "replay-confirm", onclick: replay, text: "Yes, replay" }),
        h("button", { type: "button", testid: "replay-cancel",
          onclick: () => { traceNotes.confirming = false; rerenderTrace(); }, text: "Cancel" }))));
  }
  if (traceNotes.message) {
    body.appendChild(h("div", { class: "note " + traceNotes.message.kind, testid: "replay-result", role: "status",
      text: traceNotes.message.text }));
  }
  if (traceNotes.dry) {
    const d = traceNotes.dry;
    body.appendChild(h("div", { class: "card", testid: "dry-run-result" },
      h("div", { class: "card-head" }, h("span", { class: "title", text: "Dry run with the current rules" }),
        h("span", { class: "grow" }),
        h("button", { type: "button", onclick: () => { traceNotes.dry = null; rerenderTrace(); }, text: "Hide" })),
      d.actions.length ? d.actions.map(actionCard)
        : h("p", { class: "muted", text: "The current rules decide no actions for this event." })));
  }

  const tl = h("ol", { class: "timeline" });
  body.appendChild(tl);

  // Received
  const facts = h("dl", { class: "facts", testid: "trace-received" });
  const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(h("dt", { text: k }), h("dd", null, v)); };
  fact("time", timeEl(ev.received_at, true));
  fact("source", ev.source);
  fact("kind", ev.kind);
  fact("user", userFull(ev.user));
  fact("bot", ev.bot_id);
  fact("conversation", ev.conversation_id);
  fact("text", ev.text ? h("span", { class: "mono", text: ev.text }) : null);
  fact("tags", ev.tags && ev.tags.length ? ev.tags.join(", ") : null);
  fact("dedupe id", ev.id ? h("span", { class: "mono small", text: ev.id }) : null);
  const payload = h("details", { "data-key": "payload", testid: "trace-payload" },
    h("summary", { text: "Payload (raw)" }), h("pre", { text: pretty(ev.raw) }));
  const toTry = h("button", { type: "button", testid: "trace-try", class: "gap-above",
    text: "Open this payload in Try it", onclick: () => {
      $("try-source").value = ev.source || "";
      $("try-payload").value = pretty(ev.raw);
      $("try-received-at").value = "";
      go("try");
    } });
  tl.appendChild(h("li", null, h("h3", null, "Received"), facts, payload, toTry));

  // Rules
  const rules = t.rules || [];
  const rulesLi = h("li", { class: rules.some((r) => r.error) ? "is-error" : "" },
    h("h3", null, "Rules", h("span", { class: "muted small", text: rules.length ? rules.length + " ran" : "" })));
  if (!rules.length) rulesLi.appendChild(h("p", { class: "muted", text:
    t.status === "received" ? "The rules have not run yet." : "No rule ran on this event." }));
  const quiet = rules.filter((r) => !r.error && !(r.actions || []).length);
  for (const r of rules) if (!quiet.includes(r)) rulesLi.appendChild(ruleCard(r, "trace-rule"));
  if (quiet.length) {
    rulesLi.appendChild(h("details", { "data-key": "quiet-rules", testid: "trace-quiet-rules" },
      h("summary", { text: quiet.length === 1 ? "1 rule ran with no actions" : quiet.length + " rules ran with no actions" }),
      quiet.map((r) => ruleCard(r, "trace-rule"))));
  }
  tl.appendChild(rulesLi);

  // Deliveries, grouped by run
  const deliveries = t.deliveries || [];
  const runs = [];
  for (const d of deliveries) {
    let run = runs.find((r) => r.id === d.run_id);
    if (!run) { run = { id: d.run_id, items: [] }; runs.push(run); }
    run.items.push(d);
  }
  if (!deliveries.length) {
    tl.appendChild(h("li", null, h("h3", null, "Deliveries"),
      h("p", { class: "muted", text: "No deliveries." })));
  }
  runs.forEach((run, i) => {
    const bad = run.items.some((d) => d.status === "dead");
    const ok = run.items.every((d) => d.status === "done");
    tl.appendChild(h("li", { class: bad ? "is-error" : ok ? "is-ok" : "" },
      h("h3", null, i === 0 ? "Deliveries" : "Deliveries (replay)",
        h("code", { class: "muted small", text: run.id })),
      run.items.map((d) => deliveryCard(d))));
  });
  // Re-open what was open.
  for (const d of panel.querySelectorAll("details[data-key]")) {
    if (openKeys.has(d.dataset.key)) d.open = true;
    else if (closedKeys.has(d.dataset.key)) d.open = false;
  }
  panel.scrollTop = scroll;
}
function ruleCard(r, testid) {
  const acts = r.actions || [];
  return h("div", { class: "card" + (r.error ? " error" : ""), testid, "data-rule": r.rule },
    h("div", { class: "card-head" }, h("span", { class: "title mono", text: r.rule }),
      r.error ? badge("failed") : h("span", { class: "muted small",
        text: acts.length === 1 ? "1 action" : acts.length + " actions" })),
    r.error ? h("div", { class: "rule-error", testid: "rule-error", text: r.error }) : null,
    acts.length ? h("ul", { class: "actions-list" }, acts.map((a) =>
      h("li", { testid: "rule-action" },
        h("strong", { text: a.action }), " → ", h("span", { text: a.provider }), " ",
        h("code", { class: "muted", text: compact(a.params || {}) })))) : null);
}
function deliveryCard(d) {
  let redrive = null;
  if (d.status === "dead" && d.dead_letter_id !== null && d.dead_letter_id !== undefined && redrivable(d.reason)) {
    redrive = h("button", { type: "button", class: "primary", testid: "delivery-redrive", text: "Redrive",
      "aria-label": "Redrive delivery #" + d.seq });
    redrive.addEventListener("click", () => redriveDelivery(d, redrive));
  }
  return h("div", { class: "card" + (d.status === "dead" ? " error" : ""), testid: "trace-delivery",
      "data-delivery-id": d.id },
    h("div", { class: "card-head" },
      h("span", { class: "title" }, "#" + d.seq + " ", h("span", { text: d.action }), " → ", h("span", { text: d.provider })),
      badge(d.status, "delivery-status"),
      h("span", { class: "muted small mono", text: d.rule }),
      d.reason ? h("span", { class: "badge dead", testid: "delivery-reason", text: d.reason }) : null,
      redrive),
    d.reason ? h("p", { class: "reason-words", testid: "delivery-reason-words", text: reasonWords(d.reason) }) : null,
    h("div", { class: "muted small" }, "params ", h("code", { text: compact(d.params || {}) })),
    d.status === "dead" && !d.request ? h("p", { class: "muted small", text: "Nothing was sent to the provider." })
      : requestBlock(d.request, "req-" + d.id, "delivery-request"),
    h("h4", { class: "sub-head", text: "Attempts" }),
    attemptsTable(d.attempts, "delivery-attempt"));
}
/// Redrive a dead delivery from its trace, by the dead letter the trace names (`dead_letter_id`).
async function redriveDelivery(d, button) {
  button.disabled = true;
  const id = openEventId;
  const letter = d.dead_letter_id;
  try {
    await api("POST", "/admin/dead-letters/" + encodeURIComponent(letter) + "/redrive");
    if (id !== openEventId) return;
    traceNotes.message = { kind: "ok", text: "Dead letter #" + letter + " redriven: " + d.action + " → " + d.provider +
      " is pending again." };
  } catch (e) {
    if (e instanceof Unauthorized || id !== openEventId) return;
    traceNotes.message = { kind: "error", text: "Redrive failed: " + errText(e) };
    button.disabled = false;
  }
  traceSig = null;
  refreshTrace();
}
function actionCard(a) {
  return h("div", { class: "card", testid: "action" },
    h("div", { class: "card-head" },
      h("span", { class: "title" }, "#" + a.seq + " ", h("span", { testid: "action-name", text: a.action }),
        " → ", h("span", { text: a.provider })),
      h("span", { class: "muted small mono", text: a.rule })),
    h("div", { class: "muted small" }, "params ", h("code", { text: compact(a.params || {}) })),
    requestBlock(a.request, null, "action-request"));
}
async function dryRun() {
  const id = openEventId;
  traceNotes.message = { kind: "info", text: "Running the current rules (dry run)…" };
  rerenderTrace();
  try {
    const { data } = await api("POST", "/admin/events/" + encodeURIComponent(id) + "/replay?dry_run=true");
    if (id !== openEventId) return;
    traceNotes.dry = { actions: data.actions || [] };
    traceNotes.message = null;
  } catch (e) {
    if (e instanceof Unauthorized || id !== openEventId) return;
    traceNotes.message = { kind: "error", text: "Dry run failed: " + errText(e) };
  }
  rerenderTrace();
}
async function replay() {
  const id = openEventId;
  traceNotes.confirming = false;
  traceNotes.message = { kind: "info", text: "Replaying…" };
  rerenderTrace();
  try {
    const { data } = await api("POST", "/admin/events/" + encodeURIComponent(id) + "/replay");
    if (id !== openEventId) return;
    traceNotes.message = { kind: "ok", text: "Replay started as " + data.run_id + "; its deliveries appear below." };
    traceNotes.dry = null;
    traceSig = null;
    refreshTrace();
    return;
  } catch (e) {
    if (e instanceof Unauthorized || id !== openEventId) return;
    traceNotes.message = { kind: "error", text: "Replay failed: " + errText(e) };
  }
  rerenderTrace();
}

// ---------- rules ----------
let rulesSig = null;
async function refreshRules() {
  let data;
  try { data = (await api("GET", "/admin/rules")).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("rules-error"), "Could not read the rules: " + errText(e));
    return;
  }
  note($("rules-error"), "");
  const list = data.rules || [];
  const sig = compact([list, data.reload]);
  if (sig === rulesSig) return;
  rulesSig = sig;
  // The reload banner: the files on disk are not what runs.
  const reload = data.reload || { ok: true };
  const loaded = list.map((r) => r.loaded_at || 0).reduce((a, b) => Math.max(a, b), 0);
  const banner = $("rules-banner");
  clear(banner);
  if (!reload.ok) {
    banner.append("rules on disk are not running: ", h("code", { text: reload.error || "the last reload failed" }),
      "; running the set loaded at ", loaded ? timeEl(loaded) : "start-up", ".");
  }
  show(banner, !reload.ok);
  reconcile($("rules-list"), list, (r) => r.file, compact, (r) =>
    h("tr", { testid: "rule-file", "data-file": r.file },
      h("td", null, h("code", { text: r.file })),
      h("td", null, badge(r.active ? "active" : "inactive", "rule-active"),
        r.disk_differs ? h("span", { class: "sub", testid: "rule-disk-differs",
          text: !r.active ? "on disk, not running" : r.error ? "on disk: broken; the previous version runs"
            : "on disk: changed; the previous version runs" }) : null),
      h("td", { class: "time" }, r.loaded_at ? timeEl(r.loaded_at) : h("span", { class: "muted", text: "not loaded" })),
      h("td", null, r.error ? h("div", { class: "rule-error", testid: "rule-error-text", text: r.error })
        : h("span", { class: "muted", text: "—" }))));
  show($("rules-empty"), list.length === 0);
}

// ---------- try it ----------
$("try-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("try-result");
  note($("try-error"), "");
  const source = $("try-source").value.trim();
  let body, headers;
  markDraft([]);
  note($("try-draft-error"), "");
  try { body = JSON.parse($("try-payload").value); }
  catch (e) {
    clear(out);
    note($("try-error"), "The payload is not valid JSON: " + e.message + ". Nothing ran.");
    return;
  }
  const rawHeaders = $("try-headers").value.trim();
  if (rawHeaders) {
    try { headers = JSON.parse(rawHeaders); }
    catch (e) { note($("try-error"), "The headers are not valid JSON: " + e.message); return; }
    if (!headers || typeof headers !== "object" || Array.isArray(headers)) {
      note($("try-error"), "The headers must be a JSON object of strings."); return;
    }
  }
  const request = { source, body };
  if (headers) request.headers = headers;
  const at = localInputToMs($("try-received-at").value);
  if (at !== null) request.received_at = at;
  const draft = draftRules();
  if (draft) request.rules = draft;
  const button = ev.target.querySelector("button[type=submit]");
  button.disabled = true;
  $("try-busy").textContent = "running…";
  try {
    const { data } = await api("POST", "/admin/try", request);
    clear(out);
    renderTry(out, data);
  } catch (e) {
    if (e instanceof Unauthorized) return;
    clear(out);
    if (draftProblem(e)) return;
    note($("try-error"), "The rules could not run: " + errText(e));
  } finally { button.disabled = false; $("try-busy").textContent = ""; }
});

// The draft editor: rules typed here run instead of the loaded ones (nothing is saved).
function draftRules() {
  const text = $("try-draft").value;
  if (!text.trim()) return null;
  const name = $("try-draft-name").value.trim() || "50-draft.rhai";
  return { [name]: text };
}
function drawGutter(bad) {
  const n = $("try-draft").value.split("\n").length;
  const gutter = $("try-draft-lines");
  clear(gutter);
  for (let i = 1; i <= n; i++) {
    gutter.appendChild(h("span", { class: bad.includes(i) ? "bad" : "", "data-line": i,
      testid: bad.includes(i) ? "try-draft-bad-line" : null, text: String(i) }));
  }
  gutter.scrollTop = $("try-draft").scrollTop;
}
let badLines = [];
function markDraft(lines) { badLines = lines; drawGutter(lines); }
$("try-draft").addEventListener("input", () => drawGutter(badLines));
drawGutter([]);
$("try-draft").addEventListener("scroll", () => { $("try-draft-lines").scrollTop = $("try-draft").scrollTop; });
/// A 422 rule_compile answer: each `name:line:col: message` shown, and its line marked.
function draftProblem(e) {
  if (!(e.status === 422 && e.body && e.body.error === "rule_compile")) return false;
  const lines = [];
  const words = String(e.body.message || "").split("\n").map((m) => {
    const hit = /^(.+?\.rhai):(\d+):(\d+): (.*)$/.exec(m);
    if (!hit) return m;
    lines.push(Number(hit[2]));
    return "line " + hit[2] + ", column " + hit[3] + " of " + hit[1] + ": " + hit[4];
  });
  markDraft(lines);
  note($("try-draft-error"), "The draft does not compile. " + words.join("; "));
  $("try-draft").focus();
  return true;
}
$("try-backtest").addEventListener("click", async () => {
  const out = $("try-backtest-result");
  clear(out);
  note($("try-draft-error"), "");
  markDraft([]);
  const draft = draftRules();
  if (!draft) { note($("try-draft-error"), "Write a draft rule first: the backtest runs it over the last 24 h."); return; }
  const button = $("try-backtest");
  button.disabled = true;
  $("try-busy").textContent = "backtesting…";
  try {
    const { data } = await api("POST", "/admin/backtest", { rules: draft, since: "24h" });
    const changed = data.changed || [];
    out.appendChild(h("p", { testid: "try-backtest-summary", text: (data.events === 1 ? "1 event" : data.events + " events") + " in the last 24 h; " +
      changed.length + " would get different actions; " + data.rule_errors + " rule errors." }));
    if (changed.length) {
      out.appendChild(h("ul", { class: "actions-list" }, changed.slice(0, 50).map((c) =>
        h("li", { testid: "try-backtest-changed" },
          h("a", { href: "#/events/" + encodeURIComponent(c.event_id), class: "mono small", text: c.event_id }), " ",
          h("span", { class: "small", text: "+" + (c.added || []).length + " / −" + (c.removed || []).length +
            ((c.errors || []).length ? " · " + c.errors.length + " errors" : "") })))));
    }
  } catch (e) {
    if (e instanceof Unauthorized) return;
    if (!draftProblem(e)) note($("try-draft-error"), "The backtest could not run: " + errText(e));
  } finally { button.disabled = false; $("try-busy").textContent = ""; }
});
function renderTry(out, t) {
  const ev = t.event || {};
  const rules = t.rules || [];
  const actions = t.actions || [];
  const errors = rules.filter((r) => r.error);
  out.appendChild(h("dl", { class: "facts", testid: "try-event" },
    h("dt", { text: "kind" }), h("dd", { text: ev.kind || "" }),
    h("dt", { text: "user" }), h("dd", { text: userFull(ev.user) }),
    h("dt", { text: "text" }), h("dd", { class: "mono", text: ev.text || "" }),
    h("dt", { text: "received" }), h("dd", null, timeEl(ev.received_at, true))));
  if (errors.length) {
    out.appendChild(h("h3", { class: "result-head", text: "Rule errors" }));
    for (const r of errors) out.appendChild(h("div", { class: "rule-error spaced", testid: "try-rule-error",
      text: r.error }));
  }
  out.appendChild(h("h3", { class: "result-head",
    text: actions.length === 1 ? "1 action" : actions.length + " actions" }));
  if (!actions.length) out.appendChild(h("p", { class: "muted", testid: "try-no-actions",
    text: "The rules decide no actions for this payload." }));
  for (const a of actions) out.appendChild(actionCard(a));
  out.appendChild(h("details", null, h("summary", { text: "Rules that ran (" + rules.length + ")" }),
    rules.map((r) => ruleCard(r, "try-rule"))));
  out.appendChild(h("details", null, h("summary", { text: "Decoded event" }), h("pre", { text: pretty(ev) })));
}

// ---------- start ----------
// A bug in this page shows on it instead of failing silently.
function reportBug(e) {
  if (e instanceof Unauthorized) return;
  console.error(e);
  note($("global-error"), "The console hit a bug: " + (e && e.message ? e.message : String(e)));
}
window.addEventListener("error", (ev) => reportBug(ev.error || ev.message));
window.addEventListener("unhandledrejection", (ev) => reportBug(ev.reason));
// Anything the Content-Security-Policy blocks is a bug of this page too.
document.addEventListener("securitypolicyviolation", (ev) =>
  reportBug(new Error("the Content-Security-Policy blocked " + (ev.blockedURI || "inline code") +
    " (" + ev.violatedDirective + ")")));
document.addEventListener("visibilitychange", () => { if (!document.hidden && session.token) tick(); });
session.expired = sessionExpired;
if (session.token) startApp(); else showLogin();
