// The Providers view: each provider's state (active, paused by an operator, open by the
// circuit breaker), its waiting and in-flight deliveries, its last error, and pause/resume.

import { $, h, clear, show, note, badge, compact } from "./dom.js";
import { Unauthorized, api, errText } from "./api.js";

let sig = null;
export function resetProviders() { sig = null; clear($("providers-rows")); }

export async function refreshProviders() {
  let data;
  try { data = (await api("GET", "/admin/providers")).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("providers-error"), "Could not list providers: " + errText(e));
    return;
  }
  note($("providers-error"), "");
  const list = data.providers || [];
  const next = compact(list);
  if (next === sig) return;
  sig = next;
  const body = $("providers-rows");
  clear(body);
  for (const p of list) body.appendChild(row(p));
  show($("providers-empty"), list.length === 0);
}

function row(p) {
  const paused = p.state !== "active";
  const by = p.paused_by === "operator" ? "paused by an operator"
    : p.paused_by === "breaker" ? "opened by the circuit breaker (too many failures in a row)" : "";
  const button = h("button", { type: "button", class: paused ? "primary" : "danger",
    testid: paused ? "provider-resume" : "provider-pause", text: paused ? "Resume" : "Pause",
    "aria-label": (paused ? "Resume " : "Pause ") + p.name });
  button.addEventListener("click", async () => {
    button.disabled = true;
    const verb = paused ? "resume" : "pause";
    try {
      await api("POST", "/admin/providers/" + encodeURIComponent(p.name) + "/" + verb);
      const el = $("providers-result");
      el.className = "note ok";
      note(el, paused ? p.name + " resumed: its waiting deliveries go out now, in each user's order."
        : p.name + " paused: its deliveries wait (nothing is attempted or dead-lettered) until you resume it.");
    } catch (e) {
      if (e instanceof Unauthorized) return;
      const el = $("providers-result");
      el.className = "note error";
      note(el, "Could not " + verb + " " + p.name + ": " + errText(e));
    }
    sig = null;
    await refreshProviders();
  });
  return h("tr", { testid: "provider", "data-name": p.name, "data-state": p.state },
    h("td", null, h("strong", { text: p.name }), h("span", { class: "sub", text: p.kind })),
    h("td", null, badge(p.state, "provider-state"), by ? h("span", { class: "sub", testid: "provider-paused-by", text: by }) : null),
    h("td", { class: "num", testid: "provider-waiting", text: String(p.waiting) }),
    h("td", { class: "num", testid: "provider-in-flight", text: String(p.in_flight) }),
    h("td", { class: "last-error", testid: "provider-last-error" },
      p.last_error ? h("span", { class: "mono small", text: p.last_error }) : h("span", { class: "muted", text: "none" })),
    h("td", { class: "narrow" }, button));
}
