// The Overview view: volume, errors and latency (p50/p99) over a window, for all events and
// per provider, from GET /admin/stats, drawn as small SVG charts by this file (no library).

import { $, h, clear, note, fmtTime, compact } from "./dom.js";
import { Unauthorized, api, errText } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
let sig = null;
export function resetOverview() { sig = null; clear($("overview-charts")); }

$("overview-window").addEventListener("change", () => { sig = null; refreshOverview(); });

export async function refreshOverview() {
  const window = $("overview-window").value;
  let data;
  try { data = (await api("GET", "/admin/stats?window=" + encodeURIComponent(window))).data; }
  catch (e) {
    if (!(e instanceof Unauthorized)) note($("overview-error"), "Could not read the stats: " + errText(e));
    return;
  }
  note($("overview-error"), "");
  const next = compact([window, data]);
  if (next === sig) return;
  sig = next;
  const box = $("overview-charts");
  clear(box);
  box.appendChild(group("All events", data.buckets || [], [
    ["received", "Received", (b) => b.received],
    ["errors", "Errors (rejected, rule errors, dead)", (b) => b.rejected + b.rule_errors + b.dead],
  ], "overview-all"));
  for (const [name, buckets] of Object.entries(data.providers || {})) {
    box.appendChild(group(name, buckets, [
      ["delivered", "Delivered", (b) => b.delivered],
      ["errors", "Retried and dead", (b) => b.retried + b.dead],
      ["latency", "Latency p50 / p99 (ms)", (b) => b.p50_ms || 0, (b) => b.p99_ms || 0],
    ], "overview-provider"));
  }
}

function group(title, buckets, series, testid) {
  const from = buckets.length ? fmtTime(buckets[0].minute) : "";
  const to = buckets.length ? fmtTime(buckets[buckets.length - 1].minute) : "";
  return h("div", { class: "card chart-group", testid, "data-name": title },
    h("div", { class: "card-head" }, h("span", { class: "title", text: title }),
      h("span", { class: "muted small", text: buckets.length ? from + " → " + to : "no activity in this window" })),
    h("div", { class: "charts" }, series.map(([key, label, main, second]) => {
      const values = buckets.map(main);
      const total = key === "latency" ? Math.max(0, ...buckets.map(second || main)) : values.reduce((a, b) => a + b, 0);
      return h("figure", { class: "chart", testid: "chart-" + key },
        h("figcaption", null, label, " ", h("strong", { testid: "chart-total",
          text: key === "latency" ? "max p99 " + total : String(total) })),
        bars(values, second ? buckets.map(second) : null, key));
    })));
}

/// Bars (one per minute) of `values`, and an optional line of `line` values over them.
function bars(values, line, key) {
  const width = 300, height = 60;
  const max = Math.max(1, ...values, ...(line || []));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark " + key);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", values.length + " minutes, highest " + max);
  const w = values.length ? width / values.length : width;
  values.forEach((v, i) => {
    const r = document.createElementNS(SVG, "rect");
    const bh = (v / max) * (height - 2);
    r.setAttribute("x", String(i * w));
    r.setAttribute("y", String(height - bh));
    r.setAttribute("width", String(Math.max(1, w - 1)));
    r.setAttribute("height", String(bh));
    svg.appendChild(r);
  });
  if (line && line.length) {
    const p = document.createElementNS(SVG, "polyline");
    p.setAttribute("points", line.map((v, i) => (i * w + w / 2) + "," + (height - (v / max) * (height - 2))).join(" "));
    p.setAttribute("class", "line");
    svg.appendChild(p);
  }
  return svg;
}
