// Usage: tokens and requests per day as charts, and the plan's limits with what is left.

import * as api from "./api.js";
import { h, num, table } from "./dom.js";
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) {
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** A round step for four grid lines that reach at least `max`; whole for counts. */
function niceStep(max) {
  if (max <= 4) return 1;
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 2.5, 5, 10].find((s) => s * power >= rough && Number.isInteger(s * power)) * power;
}

/**
 * A bar chart of `days` (objects with `date`), one stacked bar per day from `series`
 * (`{ key, label, class }`). The chart has a text alternative summarising it.
 */
export function barChart(title, days, series) {
  const width = 720;
  const height = 240;
  const pad = { top: 12, right: 8, bottom: 28, left: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const totals = days.map((d) => series.reduce((sum, s) => sum + Number(d[s.key] || 0), 0));
  const max = Math.max(0, ...totals);
  const step = niceStep(max);
  const top = step * 4;
  const slot = plotW / Math.max(days.length, 1);
  const barW = Math.max(1, slot * 0.7);
  const y = (value) => pad.top + plotH - (value / top) * plotH;

  const peak = totals.indexOf(max);
  const summary = t("usage.chartLabel", {
    name: title,
    total: num(totals.reduce((a, b) => a + b, 0)),
    days: days.length,
    max: num(max),
    date: days[peak]?.date ?? "—",
  });

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": summary,
    class: "chart",
  });
  chart.append(svg("title", {}, summary));

  for (let i = 0; i <= 4; i++) {
    const value = step * i;
    chart.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid" }),
      svg("text", { x: pad.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, compact(value)),
    );
  }
  days.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const s of series) {
      const value = Number(day[s.key] || 0);
      if (value > 0) {
        chart.append(
          svg(
            "rect",
            { x, y: y(base + value), width: barW, height: y(base) - y(base + value), class: `bar ${s.class}` },
            svg("title", {}, `${day.date} · ${s.label}: ${num(value)}`),
          ),
        );
      }
      base += value;
    }
    const every = Math.ceil(days.length / 8);
    if (i % every === 0) {
      chart.append(svg("text", { x: x + barW / 2, y: height - 8, class: "axis", "text-anchor": "middle" }, day.date.slice(5)));
    }
  });

  const legend = h(
    "ul",
    { class: "legend" },
    series.map((s) => h("li", {}, h("span", { class: `swatch ${s.class}`, "aria-hidden": "true" }), s.label)),
  );
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, title), chart, series.length > 1 ? legend : null);
}

function compact(value) {
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return String(+value.toFixed(1));
}

function meter(label, period) {
  const ratio = period.limit > 0 ? Math.min(1, period.used / period.limit) : 0;
  return h(
    "div",
    { class: "meter-row" },
    h("span", { class: "meter-label" }, label),
    h("progress", { max: period.limit || 1, value: Math.min(period.used, period.limit || 1), "aria-label": label }),
    h(
      "span",
      { class: ratio >= 0.9 ? "meter-text warn" : "meter-text" },
      t("usage.used", { used: num(period.used), limit: num(period.limit), remaining: num(period.remaining) }),
    ),
  );
}

const COUNTED = { max_users: "users", max_conversations: "conversations", max_mcp_servers: "mcp_servers" };

/** The plan's limits, with what is in use and left where the server counts it. */
function limitsTable(usage) {
  const rows = Object.entries(usage.limits || {}).map(([key, limit]) => {
    const counted = COUNTED[key];
    const used = counted && usage.in_use ? usage.in_use[counted] : undefined;
    const budget = key === "tokens_per_day" ? usage.budget.day : key === "tokens_per_month" ? usage.budget.month : null;
    return {
      key,
      limit,
      used: budget ? budget.used : used,
      left: budget ? budget.remaining : used === undefined ? undefined : Math.max(0, limit - used),
    };
  });
  const maybe = (value) => (value === undefined ? "—" : num(value));
  return table(
    t("usage.limits"),
    [
      { label: t("common.name"), value: (r) => t(`usage.limit.${r.key}`) },
      { label: t("usage.limit"), value: (r) => num(r.limit) },
      { label: t("usage.inUse"), value: (r) => maybe(r.used) },
      { label: t("usage.left"), value: (r) => maybe(r.left) },
    ],
    rows,
    t("common.none"),
  );
}

/** The usage page. */
export async function usageView() {
  const usage = await api.get("/api/tenant/usage");
  return h(
    "div",
    { class: "page usage" },
    h("h1", {}, t("usage.title")),
    h("p", { class: "subtle" }, `${t("usage.range")} (${usage.from} – ${usage.to}) · `, h("strong", {}, t("usage.plan", { plan: usage.plan }))),
    h(
      "section",
      { class: "card", "aria-labelledby": "budget-title" },
      h("h2", { id: "budget-title" }, t("usage.budget")),
      meter(t("usage.today"), usage.budget.day),
      meter(t("usage.month"), usage.budget.month),
    ),
    h(
      "div",
      { class: "charts" },
      h(
        "section",
        { class: "card" },
        barChart(t("usage.tokens"), usage.days, [
          { key: "prompt_tokens", label: t("usage.prompt"), class: "s1" },
          { key: "completion_tokens", label: t("usage.completion"), class: "s2" },
        ]),
      ),
      h("section", { class: "card" }, barChart(t("usage.requests"), usage.days, [{ key: "requests", label: t("usage.requests"), class: "s3" }])),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "limits-title" },
      h("h2", { id: "limits-title" }, t("usage.limits")),
      limitsTable(usage),
    ),
  );
}
