// Log in and sign up.

import * as api from "./api.js";
import { field, h } from "./dom.js";
import { t } from "./i18n.js";

/** The message for a failed form submission, with per-field details when given. */
export function describe(err) {
  if (err.errors && typeof err.errors === "object") {
    const details = Object.entries(err.errors).map(([name, reasons]) => `${name} ${[].concat(reasons).join(", ")}`);
    if (details.length) return details.join("; ");
  }
  if (err.code === "rate_limited" && err.retryAfter) {
    return `${err.message} (${err.retryAfter} s)`;
  }
  return err.message;
}

/** A form whose submit runs `action`, showing its error in an alert. */
export function form(label, fields, submitLabel, action) {
  const error = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const el = h("form", { "aria-label": label, novalidate: false }, fields, error, button);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await action(new FormData(el), el);
    } catch (err) {
      error.textContent = describe(err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

function card(title, ...children) {
  return h(
    "section",
    { class: "auth-card", "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title" }, title),
    h("p", { class: "tagline" }, t("auth.tagline")),
    children,
  );
}

/** The login page; `done` runs once signed in. */
export function loginView(done) {
  return card(
    t("auth.welcome"),
    form(
      t("auth.login"),
      [
        field(t("auth.email"), { name: "email", type: "email", autocomplete: "username", required: true }),
        field(t("auth.password"), {
          name: "password",
          type: "password",
          autocomplete: "current-password",
          required: true,
        }),
      ],
      t("auth.login"),
      async (data) => {
        await api.login(data.get("email"), data.get("password"));
        await done();
      },
    ),
    h("p", {}, h("a", { href: "#/signup" }, t("auth.noAccount"))),
  );
}

/** The sign-up page: a new tenant with the user as its owner. */
export function signupView(done) {
  return card(
    t("auth.signup"),
    form(
      t("auth.signup"),
      [
        field(t("auth.tenant"), { name: "tenant_name", autocomplete: "organization", required: true }),
        field(t("auth.email"), { name: "email", type: "email", autocomplete: "username", required: true }),
        field(
          t("auth.password"),
          { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8 },
          t("auth.passwordHint"),
        ),
      ],
      t("auth.signup"),
      async (data) => {
        await api.register(data.get("email"), data.get("password"), data.get("tenant_name"));
        await done();
      },
    ),
    h("p", {}, h("a", { href: "#/login" }, t("auth.haveAccount"))),
  );
}
