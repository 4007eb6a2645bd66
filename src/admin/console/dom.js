// DOM and formatting helpers of the console: elements built from text only (never
// innerHTML), times, badges, JSON, user labels.

export const $ = (id) => document.getElementById(id);

// ---------- DOM helpers: text only, never innerHTML ----------
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "testid") el.setAttribute("data-testid", v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}
export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
export function show(el, on) { el.hidden = !on; }
export function note(el, text) { el.textContent = text || ""; show(el, !!text); }

export const pad = (n, w = 2) => String(n).padStart(w, "0");
export function fmtTime(ms, withMs) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  if (isNaN(d.getTime())) return String(ms);
  let s = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  if (withMs) s += "." + pad(d.getMilliseconds(), 3);
  return s + " " + zoneName(d);
}
/// The browser's zone as it names it for that instant ("UTC", "CET", "GMT-5").
export function zoneName(d) {
  try {
    const part = new Intl.DateTimeFormat("en", { timeZoneName: "short" }).formatToParts(d)
      .find((p) => p.type === "timeZoneName");
    return part ? part.value : "local";
  } catch (e) { return "local"; }
}
export function timeEl(ms, withMs) {
  const attrs = { text: fmtTime(ms, withMs) };
  if (typeof ms === "number") {
    const iso = new Date(ms).toISOString();
    attrs.datetime = iso;
    attrs.title = iso + " (" + ms + ")";
  }
  return h("time", attrs);
}
export function localInputToMs(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return isNaN(t) ? null : t;
}
export function badge(status, testid) {
  const s = status === null || status === undefined ? "unknown" : String(status);
  return h("span", { class: "badge " + s.replace(/[^a-z_]/gi, ""), testid: testid, text: s.replace("_", " ") });
}
export function httpBadge(status, testid) {
  if (status === null || status === undefined) return h("span", { class: "badge s0", testid, text: "no answer" });
  return h("span", { class: "badge s" + String(status).charAt(0), testid, text: String(status) });
}
export function pretty(v) {
  if (typeof v === "string") return v;
  try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
}
export function compact(v) {
  try { return JSON.stringify(v); } catch (e) { return String(v); }
}
// The user's identifiers, the same digits shown once (a phone is often also the id).
export function userParts(u) {
  if (!u) return [];
  const parts = [];
  const digits = (v) => String(v).replace(/\D/g, "");
  if (u.name) parts.push(u.name);
  if (u.phone) parts.push(u.phone);
  if (u.email) parts.push(u.email);
  if (u.ns) parts.push("ns " + u.ns);
  if (u.id && !(u.phone && digits(u.phone) === u.id) && u.id !== u.email && u.id !== u.ns) parts.push("id " + u.id);
  return parts;
}
export function userLabel(u) {
  const parts = userParts(u).slice(0, 2);
  return parts.length ? parts.join(" · ") : "—";
}
export function userFull(u) {
  const parts = userParts(u);
  return parts.length ? parts.join(" · ") : "unknown user";
}

