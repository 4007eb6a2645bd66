// Two read-only views: Rejections (refused webhooks, newest first) and Shadow (what each
// shadow rule would have done, and on how many events it differs from the live rules).

import { $, h, clear, show, note, timeEl, httpBadge, compact } from "./dom.js";
import { Unauthorized, api, errText } from "./api.js";

let rejectionsSig = null, shadowSig = null;
export function resetLists() {
  rejectionsSig = null; shadowSig = null;
  clear($("rejections-rows")); clear($("shadow-rows"));
}

export async function refreshRejections() {
  let data;
  try { data = (await api("GET", "/admin/rejections?limit=200")).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("rejections-error"), "Could not list rejections: " + errText(e));
    return;
  }
  note($("rejections-error"), "");
  const list = data.rejections || [];
  const sig = compact(list);
  if (sig === rejectionsSig) return;
  rejectionsSig = sig;
  const body = $("rejections-rows");
  clear(body);
  for (const r of list) {
    body.appendChild(h("tr", { testid: "rejection" },
      h("td", { class: "time" }, timeEl(r.at)),
      h("td", { text: r.source || "—" }),
      h("td", { class: "narrow" }, httpBadge(r.status)),
      h("td", { class: "wrap", text: r.error || "" }),
      h("td", { class: "mono small", text: r.remote_addr || "" })));
  }
  show($("rejections-empty"), list.length === 0);
}

export async function refreshShadow() {
  const since = $("shadow-since").value;
  let data;
  try { data = (await api("GET", "/admin/shadow?since=" + encodeURIComponent(since))).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("shadow-error"), "Could not read the shadow rules: " + errText(e));
    return;
  }
  note($("shadow-error"), "");
  const list = data.rules || [];
  const sig = compact([since, list]);
  if (sig === shadowSig) return;
  shadowSig = sig;
  const body = $("shadow-rows");
  clear(body);
  for (const r of list) {
    body.appendChild(h("tr", { testid: "shadow-rule", "data-file": r.file },
      h("td", null, h("code", { text: r.file })),
      h("td", { class: "num", testid: "shadow-events", text: String(r.events) }),
      h("td", { class: "num", testid: "shadow-actions", text: String(r.actions) }),
      h("td", { class: "num" }, h("span", { class: r.differs_from_live ? "badge partial" : "badge done",
        testid: "shadow-differs", text: String(r.differs_from_live) }))));
  }
  show($("shadow-empty"), list.length === 0);
}
$("shadow-since").addEventListener("change", () => { shadowSig = null; refreshShadow(); });
