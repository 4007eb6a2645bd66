// Pieces shared by several views: keyed list reconciliation, a delivery's request and its
// attempts table.

import { h, timeEl, httpBadge, pretty } from "./dom.js";

// Keyed reconciliation: keep unchanged elements, so refreshes do not flicker.
export function reconcile(container, items, keyOf, sigOf, build) {
  const existing = new Map();
  for (const el of Array.from(container.children)) existing.set(el.dataset.key, el);
  const wanted = [];
  for (const item of items) {
    const key = String(keyOf(item));
    const sig = sigOf(item);
    let el = existing.get(key);
    if (!el || el.dataset.sig !== sig) {
      const fresh = build(item, !el);
      fresh.dataset.key = key;
      fresh.dataset.sig = sig;
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    existing.delete(key);
    wanted.push(el);
  }
  for (const el of existing.values()) el.remove();
  wanted.forEach((el, i) => {
    if (container.children[i] !== el) container.insertBefore(el, container.children[i] || null);
  });
}

export function requestBlock(req, key, testid, folded) {
  if (!req) return h("p", { class: "muted small", text: "No request yet (it is built on the first attempt)." });
  if (req.dead_letter) return h("div", { class: "rule-error", testid: testid,
    text: "would be dead-lettered: " + req.dead_letter });
  return h("div", { testid },
    h("div", { class: "request-line" }, h("span", { class: "method", text: req.method || "" }),
      h("span", { testid: testid + "-url", text: req.url || "" })),
    req.body !== undefined && req.body !== null
      ? h("details", { "data-key": key, open: !folded },
          h("summary", { text: "Request body" }), h("pre", { text: pretty(req.body) }))
      : null);
}
export function attemptsTable(attempts, testid) {
  if (!attempts || !attempts.length) return h("p", { class: "muted small", text: "No attempts yet." });
  return h("table", { class: "attempts" },
    h("thead", null, h("tr", null, h("th", { class: "narrow", text: "#" }), h("th", { class: "narrow", text: "at" }),
      h("th", { class: "narrow", text: "status" }), h("th", { class: "narrow num", text: "took" }),
      h("th", { text: "response excerpt" }))),
    h("tbody", null, attempts.map((a, i) => h("tr", { testid },
      h("td", { class: "narrow", text: String(i + 1) }),
      h("td", { class: "narrow time" }, timeEl(a.at, true)),
      h("td", { class: "narrow" }, httpBadge(a.status, "attempt-status")),
      // Attempts recorded before durations were kept have none.
      h("td", { class: "narrow num", testid: "attempt-duration",
        text: typeof a.duration_ms === "number" ? a.duration_ms.toLocaleString("en") + " ms" : "—" }),
      h("td", { class: "excerpt", text: a.response_excerpt || "" })))));
}
