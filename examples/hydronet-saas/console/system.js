// System administration: the service overview, and every tenant with its plan and status.

import * as api from "./api.js";
import { field, h, num, table, toast, when } from "./dom.js";
import { t } from "./i18n.js";
import { barChart } from "./usage.js";

const PLANS = ["free", "pro", "enterprise"];

/** The system administrator's page. */
export async function systemView({ params, go, render }) {
  const search = params.get("search") || "";
  const [overview, tenants] = await Promise.all([
    api.get("/api/admin/overview"),
    api.get(`/api/admin/tenants${api.query({ search, limit: 100 })}`),
  ]);

  const act = async (action) => {
    try {
      await action();
      await render();
      toast(t("common.saved"));
    } catch (err) {
      toast(err.message, "error");
    }
  };

  const planSelect = (tenant) => {
    const select = h(
      "select",
      { "aria-label": `${t("system.plan")}: ${tenant.name}` },
      PLANS.map((p) => h("option", { value: p, selected: p === tenant.plan }, p)),
    );
    select.addEventListener("change", () =>
      act(() => api.put(`/api/admin/tenants/${tenant.id}/plan`, { plan: select.value })),
    );
    return select;
  };

  const searchForm = h("form", { class: "row", role: "search" }, field(t("common.search"), { name: "search", type: "search", value: search }), h("button", { type: "submit" }, t("common.search")));
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`system${api.query({ search: new FormData(searchForm).get("search") })}`);
  });

  const totals = overview.totals;
  return h(
    "div",
    { class: "page" },
    h("h1", {}, t("system.title")),
    h("h2", {}, t("system.overview")),
    h(
      "div",
      { class: "stats" },
      h("div", { class: "stat" }, t("system.tenants"), h("strong", {}, num(totals.tenants))),
      h("div", { class: "stat" }, t("system.users"), h("strong", {}, num(totals.users))),
      h(
        "div",
        { class: "stat" },
        t("system.byStatus"),
        h("ul", {}, Object.entries(totals.tenants_by_status || {}).map(([status, n]) => h("li", {}, `${status}: ${num(n)}`))),
      ),
    ),
    h(
      "section",
      { class: "card" },
      barChart(t("usage.tokens"), overview.days, [
        { key: "prompt_tokens", label: t("usage.prompt"), class: "s1" },
        { key: "completion_tokens", label: t("usage.completion"), class: "s2" },
      ]),
    ),
    h("section", { class: "card" }, barChart(t("system.newTenants"), overview.days, [{ key: "new_tenants", label: t("system.newTenants"), class: "s3" }])),
    h("h2", {}, t("system.tenants")),
    h("section", { class: "card" }, searchForm),
    h(
      "section",
      { class: "card" },
      table(
        t("system.tenants"),
        [
          { label: t("common.name"), value: (x) => [x.name, h("br"), h("small", { class: "subtle" }, x.slug)] },
          { label: t("system.plan"), value: planSelect },
          { label: t("common.status"), value: (x) => h("span", { class: `badge ${x.status}` }, x.status) },
          { label: t("common.created"), value: (x) => when(x.created_at) },
          {
            label: t("common.actions"),
            value: (x) =>
              x.status === "active"
                ? h("button", { type: "button", class: "danger", onclick: () => confirm(t("common.confirm")) && act(() => api.postJson(`/api/admin/tenants/${x.id}/suspend`)) }, t("system.suspend"))
                : h("button", { type: "button", onclick: () => act(() => api.postJson(`/api/admin/tenants/${x.id}/reactivate`)) }, t("system.reactivate")),
          },
        ],
        tenants.tenants,
        t("common.none"),
      ),
    ),
  );
}
