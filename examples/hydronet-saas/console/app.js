// The console's shell: session restore, hash routes, navigation by permission, language.

import * as api from "./api.js";
import { h, mount, toast } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { loginView, signupView } from "./auth.js";
import { chatView } from "./chat.js";
import { usageView } from "./usage.js";
import {
  auditView,
  keysView,
  mcpView,
  rolesView,
  settingsView,
  usersView,
  wechatView,
} from "./admin.js";
import { systemView } from "./system.js";

/** Who is signed in: `{ user, tenant, permissions }`, or null. */
export const session = { current: null };

/** Whether the signed-in user holds `permission`. */
export function can(permission) {
  return Boolean(session.current?.permissions?.includes(permission));
}

// Each page: its hash, the permission it needs, its navigation label and its view.
const PAGES = [
  { path: "chat", needs: "conversations:read", label: "nav.chat", view: chatView },
  { path: "usage", needs: "usage:read", label: "nav.usage", view: usageView },
  { path: "admin/users", needs: "users:manage", label: "nav.users", view: usersView },
  { path: "admin/roles", needs: "roles:manage", label: "nav.roles", view: rolesView },
  { path: "admin/keys", needs: "api_keys:manage", label: "nav.keys", view: keysView },
  { path: "admin/audit", needs: "audit:read", label: "nav.audit", view: auditView },
  { path: "admin/mcp", needs: "mcp:manage", label: "nav.mcp", view: mcpView },
  { path: "admin/wechat", needs: "tenant:manage", label: "nav.wechat", view: wechatView },
  { path: "system", needs: "admin:manage", label: "nav.system", view: systemView },
  { path: "settings", needs: "profile:read", label: "nav.settings", view: settingsView },
];

const main = () => document.getElementById("main");

/** Goes to `path` (without the leading `#/`). */
export function go(path) {
  if (location.hash === `#/${path}`) render();
  else location.hash = `#/${path}`;
}

function parseHash() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  const [path, queryText] = hash.split("?");
  return { path: decodeURIComponent(path || ""), params: new URLSearchParams(queryText || "") };
}

function homePath() {
  const first = PAGES.find((p) => can(p.needs));
  return first ? first.path : "settings";
}

let renderSeq = 0;

/** Renders the page the hash names. */
export async function render() {
  const seq = ++renderSeq;
  applyChrome();
  const { path, params } = parseHash();
  const root = main();

  if (!session.current) {
    if (path === "signup") return mount(root, signupView(signedIn));
    return mount(root, loginView(signedIn));
  }
  if (path === "" || path === "login" || path === "signup") return go(homePath());

  const page = PAGES.find((p) => path === p.path || path.startsWith(`${p.path}/`));
  if (!page) return mount(root, h("p", { class: "notice" }, t("app.notFound")));
  if (!can(page.needs)) return mount(root, h("p", { class: "notice", role: "alert" }, t("app.forbidden")));

  const rest = path.slice(page.path.length + 1);
  mount(root, h("p", { class: "loading" }, t("app.loading")));
  try {
    const view = await page.view({ rest, params, session: session.current, can, go, render });
    if (seq === renderSeq) mount(root, view);
  } catch (err) {
    if (seq !== renderSeq) return;
    mount(
      root,
      h(
        "div",
        { class: "notice", role: "alert" },
        h("p", {}, t("app.error", { detail: err.message })),
        h("button", { type: "button", onclick: () => render() }, t("app.retry")),
      ),
    );
  }
}

/** The header: navigation for what the user may see, the user, and the language. */
function applyChrome() {
  document.title = "HydroNet";
  document.getElementById("lang").value = lang();
  document.getElementById("lang").previousElementSibling.textContent = t("app.language");
  document.getElementById("skip").textContent = t("app.skip");
  document.getElementById("menu-toggle").textContent = t("app.menu");
  const logout = document.getElementById("logout");
  logout.textContent = t("app.logout");
  logout.hidden = !session.current;
  document.getElementById("who").textContent = session.current
    ? `${session.current.user.email} · ${session.current.tenant.name}`
    : "";

  const nav = document.getElementById("nav");
  if (!session.current) return mount(nav);
  const current = parseHash().path;
  mount(
    nav,
    h(
      "ul",
      {},
      PAGES.filter((p) => can(p.needs)).map((p) => {
        const active = current === p.path || current.startsWith(`${p.path}/`);
        return h(
          "li",
          {},
          h("a", { href: `#/${p.path}`, "aria-current": active ? "page" : null, dataset: { page: p.path } }, t(p.label)),
        );
      }),
    ),
  );
}

/** Loads who the user is after a sign-in or a restored session. */
async function loadSession() {
  const me = await api.get("/api/auth/me");
  session.current = { user: me.user, tenant: me.tenant, permissions: me.permissions };
}

async function signedIn() {
  await loadSession();
  go(homePath());
}

async function signOut(message) {
  await api.logout().catch(() => {});
  session.current = null;
  if (message) toast(message);
  go("login");
}

function wireChrome() {
  document.getElementById("lang").addEventListener("change", (event) => {
    setLang(event.target.value);
    render();
  });
  document.getElementById("logout").addEventListener("click", () => signOut(t("auth.loggedOut")));
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  const toggle = document.getElementById("menu-toggle");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("nav-open", open);
  });
  document.getElementById("nav").addEventListener("click", (event) => {
    if (event.target.closest("a")) {
      toggle.setAttribute("aria-expanded", "false");
      document.body.classList.remove("nav-open");
    }
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/") || location.hash === "") render();
  });
  api.whenSignedOut(() => {
    if (!session.current) return;
    session.current = null;
    toast(t("auth.expired"), "error");
    go("login");
  });
}

async function start() {
  setLang(lang());
  wireChrome();
  if (await api.refresh()) {
    try {
      await loadSession();
    } catch {
      session.current = null;
    }
  }
  document.body.dataset.ready = "true";
  render();
}

start();
