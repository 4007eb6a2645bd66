// The Dead letters view: a compact table of every letter matching the filters (kept in the
// URL), with the total, paging, selection (this page or every matching letter), bulk
// redrive and discard after a confirmation that says how many, and one row's details.

import { $, h, clear, show, note, timeEl, httpBadge, compact, localInputToMs } from "./dom.js";
import { Unauthorized, api, errText } from "./api.js";
import { requestBlock, attemptsTable } from "./parts.js";
import { reasonWords, redrivable } from "./reasons.js";

const PAGE = 50;
const FILTERS = ["provider", "action", "reason", "last_status", "since", "until"];

let state = fresh();
function fresh() {
  return { query: null, cursors: [null], page: 0, data: null, sig: null,
    selected: new Set(), allMatching: false, open: new Set(), pending: null };
}
export function resetDeadLetters() {
  state = fresh();
  clear($("dl-rows"));
  note($("dl-result"), "");
  show($("dl-confirm"), false);
}

/// The filters in the URL (`#/dead-letters?provider=...`).
function urlFilters() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const f = {};
  for (const k of FILTERS) { const v = (q.get(k) || "").trim(); if (v) f[k] = v; }
  return f;
}
function toInput(ms) {
  if (!ms || isNaN(Number(ms))) return "";
  const d = new Date(Number(ms));
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" +
    p(d.getMinutes()) + ":" + p(d.getSeconds());
}
function fillForm(f) {
  for (const k of ["provider", "action", "reason", "last_status"]) $("dl-f-" + k).value = f[k] || "";
  for (const k of ["since", "until"]) $("dl-f-" + k).value = toInput(f[k]);
}
function readForm() {
  const f = {};
  for (const k of ["provider", "action", "reason", "last_status"]) {
    const v = $("dl-f-" + k).value.trim(); if (v) f[k] = v;
  }
  for (const k of ["since", "until"]) {
    const ms = localInputToMs($("dl-f-" + k).value); if (ms !== null) f[k] = String(ms);
  }
  return f;
}
function setUrl(f) {
  const q = new URLSearchParams(f).toString();
  location.hash = "#/dead-letters" + (q ? "?" + q : "");
}
$("dl-filters").addEventListener("submit", (ev) => { ev.preventDefault(); setUrl(readForm()); });
$("dl-f-reason").addEventListener("change", () => setUrl(readForm()));
$("dl-filters-clear").addEventListener("click", () => setUrl({}));

export async function refreshDeadLetters() {
  const f = urlFilters();
  const query = new URLSearchParams(f).toString();
  if (query !== state.query) {
    const keep = state.open;
    state = fresh();
    state.open = keep;
    state.query = query;
    fillForm(f);
    note($("dl-result"), "");
    show($("dl-confirm"), false);
  }
  const params = new URLSearchParams(f);
  params.set("limit", String(PAGE));
  const cursor = state.cursors[state.page];
  if (cursor) params.set("cursor", cursor);
  let data;
  try { data = (await api("GET", "/admin/dead-letters?" + params.toString())).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("dl-error"), "Could not list dead letters: " + errText(e));
    return;
  }
  if (query !== state.query) return;
  note($("dl-error"), "");
  state.data = data;
  state.cursors[state.page + 1] = data.next_cursor || null;
  render();
}

function selectable(d) { return !d.redriven_at && !d.discarded_at && redrivable(d.reason); }

function render() {
  const data = state.data;
  const list = data.dead_letters || [];
  const total = data.total || 0;
  const first = state.page * PAGE;
  $("dl-total").textContent = total === 1 ? "1 dead letter matches" : total.toLocaleString("en") + " dead letters match";
  $("dl-page").textContent = list.length ? "showing " + (first + 1) + "–" + (first + list.length) : "";
  $("dl-newer").disabled = state.page === 0;
  $("dl-older").disabled = !data.next_cursor;
  show($("dl-empty"), list.length === 0);
  renderSelection(list, total);
  const sig = compact([list, [...state.selected], state.allMatching, [...state.open]]);
  if (sig === state.sig) return;
  state.sig = sig;
  const body = $("dl-rows");
  clear(body);
  for (const d of list) {
    body.appendChild(row(d));
    if (state.open.has(d.id)) body.appendChild(details(d));
  }
}

function renderSelection(list, total) {
  const pageIds = list.filter(selectable).map((d) => d.id);
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => state.selected.has(id));
  $("dl-select-page").checked = state.allMatching || allOnPage;
  $("dl-select-page").disabled = pageIds.length === 0;
  const count = state.allMatching ? total : state.selected.size;
  $("dl-selected").textContent = state.allMatching
    ? "All " + total.toLocaleString("en") + " matching letters selected"
    : count ? count + " selected" : "";
  show($("dl-select-all"), !state.allMatching && allOnPage && total > pageIds.length);
  $("dl-select-all").textContent = "Select all " + total.toLocaleString("en") + " matching";
  show($("dl-select-none"), state.allMatching || state.selected.size > 0);
  $("dl-bulk-redrive").disabled = count === 0;
  $("dl-bulk-discard").disabled = count === 0;
}

function row(d) {
  const open = !d.redriven_at && !d.discarded_at;
  const st = d.discarded_at ? "discarded" : d.redriven_at ? "redriven" : "open";
  const box = h("input", { type: "checkbox", testid: "dead-letter-select", "aria-label": "Select dead letter " + d.id,
    disabled: !selectable(d) || state.allMatching, checked: state.allMatching ? selectable(d) : state.selected.has(d.id) });
  box.addEventListener("change", () => {
    if (box.checked) state.selected.add(d.id); else state.selected.delete(d.id);
    render();
  });
  let act;
  if (!open) {
    act = h("span", { class: "muted small", testid: "dead-letter-done" }, st + " ",
      timeEl(d.discarded_at || d.redriven_at));
  } else if (!redrivable(d.reason)) {
    act = h("span", { class: "muted small", testid: "dead-letter-not-redrivable", text: "not redrivable" });
  } else {
    act = h("button", { type: "button", class: "primary small-button", testid: "dead-letter-redrive",
      text: "Redrive", "aria-label": "Redrive dead letter " + d.id });
    act.addEventListener("click", () => redriveOne(d, act));
  }
  const toggle = h("button", { type: "button", class: "link", testid: "dead-letter-details-toggle",
    "aria-expanded": state.open.has(d.id) ? "true" : "false", text: state.open.has(d.id) ? "hide" : "details" });
  toggle.addEventListener("click", () => {
    if (state.open.has(d.id)) state.open.delete(d.id); else state.open.add(d.id);
    render();
  });
  const eventLink = h("a", { href: "#/events/" + encodeURIComponent(d.event_id), class: "mono small",
    testid: "dead-letter-event", text: d.event_id });
  return h("tr", { testid: "dead-letter", "data-id": d.id, "data-event-id": d.event_id, "data-state": st,
      class: open ? "" : "settled" },
    h("td", { class: "narrow" }, box),
    h("td", { class: "time" }, h("span", { class: "mono", text: "#" + d.id }), h("span", { class: "sub" }, timeEl(d.created_at))),
    h("td", null, h("strong", { text: d.action }), " → ", h("span", { text: d.provider }),
      h("span", { class: "sub" }, eventLink)),
    h("td", { class: "reason" }, h("span", { class: "badge dead", testid: "dead-letter-reason", text: d.reason }),
      h("span", { class: "sub", testid: "dead-letter-reason-words", text: reasonWords(d.reason) })),
    h("td", { class: "narrow" }, httpBadge(d.last_status, "dead-letter-last-status")),
    h("td", { class: "narrow" }, act, " ", toggle));
}

function details(d) {
  return h("tr", { testid: "dead-letter-details", "data-id": d.id, class: "details-row" },
    h("td", { colspan: "6" },
      h("dl", { class: "facts" },
        h("dt", { text: "params" }), h("dd", null, h("code", { text: compact(d.params || {}) })),
        h("dt", { text: "last response" }),
        h("dd", null, d.last_response ? h("pre", { testid: "dead-letter-response", text: d.last_response })
          : h("span", { class: "muted", text: "none" }))),
      h("h4", { class: "sub-head first", text: "Request" }),
      requestBlock(d.request, null, "dead-letter-request", true),
      h("h4", { class: "sub-head", text: "Attempts" }),
      attemptsTable(d.attempts, "dead-letter-attempt")));
}

async function redriveOne(d, button) {
  button.disabled = true;
  try {
    await api("POST", "/admin/dead-letters/" + encodeURIComponent(d.id) + "/redrive");
    result("ok", "Dead letter #" + d.id + " redriven: its delivery (" + d.action + " → " + d.provider +
      ") is pending again.");
  } catch (e) {
    if (e instanceof Unauthorized) return;
    result("error", "Redrive of #" + d.id + " failed: " + errText(e));
    button.disabled = false;
  }
  state.selected.delete(d.id);
  await refreshDeadLetters();
}

function result(kind, text) {
  const el = $("dl-result");
  el.className = "note " + kind;
  note(el, text);
}

// ----- selection and bulk actions -----
$("dl-select-page").addEventListener("change", (ev) => {
  const list = state.data ? state.data.dead_letters || [] : [];
  state.allMatching = false;
  for (const d of list.filter(selectable)) {
    if (ev.target.checked) state.selected.add(d.id); else state.selected.delete(d.id);
  }
  render();
});
$("dl-select-all").addEventListener("click", () => { state.allMatching = true; render(); });
$("dl-select-none").addEventListener("click", () => { state.allMatching = false; state.selected.clear(); render(); });
function turnPage(by) {
  state.page = Math.max(0, state.page + by);
  state.sig = null;
  $("view-dead-letters").scrollIntoView();
  refreshDeadLetters();
}
$("dl-older").addEventListener("click", () => turnPage(1));
$("dl-newer").addEventListener("click", () => turnPage(-1));

function ask(verb) {
  const total = state.data ? state.data.total || 0 : 0;
  const n = state.allMatching ? total : state.selected.size;
  const what = n === 1 ? "1 dead letter" : n.toLocaleString("en") + " dead letters";
  let text = verb === "redrive"
    ? "Redrive " + (state.allMatching ? "all " : "") + what + (state.allMatching ? " matching these filters" : "") +
      "? Their deliveries start again from the first attempt."
    : "Discard " + (state.allMatching ? "all " : "") + what + (state.allMatching ? " matching these filters" : "") +
      "? They stay on record but are never sent.";
  if (state.allMatching) text += " Letters already redriven or discarded are skipped" +
    (verb === "redrive" ? ", and user_unknown letters are left as they are." : ".");
  state.pending = verb;
  $("dl-confirm-text").textContent = text;
  $("dl-confirm-yes").textContent = verb === "redrive" ? "Redrive " + what : "Discard " + what;
  $("dl-confirm-yes").className = verb === "redrive" ? "primary" : "danger";
  show($("dl-confirm"), true);
  $("dl-confirm-yes").focus();
}
$("dl-bulk-redrive").addEventListener("click", () => ask("redrive"));
$("dl-bulk-discard").addEventListener("click", () => ask("discard"));
$("dl-confirm-no").addEventListener("click", () => { state.pending = null; show($("dl-confirm"), false); });
$("dl-confirm-yes").addEventListener("click", async () => {
  const verb = state.pending;
  if (!verb) return;
  const body = state.allMatching ? { filter: filterBody(urlFilters()) } : { ids: [...state.selected] };
  $("dl-confirm-yes").disabled = true;
  try {
    const { data } = await api("POST", "/admin/dead-letters/" + verb, body);
    if (verb === "redrive") {
      let text = data.redriven.toLocaleString("en") + " dead letters redriven: their deliveries are pending again.";
      if (data.skipped_user_unknown) text += " " + data.skipped_user_unknown + " user_unknown letters were left as they are.";
      result("ok", text);
    } else result("ok", data.discarded.toLocaleString("en") + " dead letters discarded.");
    state.selected.clear(); state.allMatching = false;
  } catch (e) {
    if (e instanceof Unauthorized) return;
    result("error", "The " + verb + " failed: " + errText(e));
  } finally {
    $("dl-confirm-yes").disabled = false;
    state.pending = null;
    show($("dl-confirm"), false);
  }
  state.sig = null;
  await refreshDeadLetters();
});
function filterBody(f) {
  const out = {};
  for (const [k, v] of Object.entries(f)) {
    if (k === "last_status") out[k] = Number(v);
    else if (k === "since" || k === "until") out[k] = /^\d+$/.test(v) ? Number(v) : v;
    else out[k] = v;
  }
  return out;
}
