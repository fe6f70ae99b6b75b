// The web console in headless Chromium against the real server and a mock model.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ADMIN_EMAIL,
  PASSWORD,
  logIn,
  shoot,
  signUp,
  startBrowser,
  startMockMcp,
  startMockModel,
  startServer,
} from "../harness.js";

let model;
let mcp;
let server;

before(async () => {
  model = await startMockModel();
  mcp = await startMockMcp();
  server = await startServer(model.url);
});

after(async () => {
  await server?.close();
  await mcp?.close();
  await model?.close();
});

/** Runs `body` with a fresh browser, closing it and checking the page logged no errors. */
async function withBrowser(options, body) {
  const browser = await startBrowser(options);
  try {
    await body(browser);
    const unexpected = browser.errors.filter((e) => !/status of (401|403|429)/.test(e));
    assert.deepEqual(unexpected, [], "the page logged errors");
  } finally {
    await browser.close();
  }
}

/** An API call as a signed-in user, for setting things up quickly. */
async function apiAs(email, method, path, body) {
  const login = await fetch(`${server.url}/api/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(login.status, 200, await login.clone().text());
  const { access_token: token } = await login.json();
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe("the web console", () => {
  test("a new user signs up, the session survives a reload, and logs out", async () => {
    await withBrowser({}, async ({ page, context }) => {
      await page.goto(server.url);
      await page.getByRole("heading", { name: "Welcome to HydroNet" }).waitFor();
      await shoot(page, "01-login");
      await page.getByRole("link", { name: /Create an organisation/ }).click();
      await page.getByRole("button", { name: "Sign up" }).waitFor();
      await shoot(page, "02-signup");

      await signUp(page, server.url, { email: "owner@signup.e2e", tenant: "Signup Water" });
      await assert.doesNotReject(page.getByText("owner@signup.e2e · Signup Water").waitFor());

      // The refresh token is an HttpOnly cookie the page cannot read.
      const cookies = await context.cookies(server.url + "/api/auth/refresh");
      const session = cookies.find((c) => c.name === "hn_refresh");
      assert.ok(session, "the session cookie is set");
      assert.equal(session.httpOnly, true);
      assert.equal(session.secure, true);
      assert.equal(session.sameSite, "Strict");
      assert.equal(session.path, "/api/auth");
      assert.equal(await page.evaluate(() => document.cookie), "");

      // A reload keeps the user signed in, through the cookie alone.
      await page.reload();
      await page.locator("#logout:not([hidden])").waitFor();
      assert.match(await page.locator("#who").textContent(), /owner@signup\.e2e/);

      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByRole("heading", { name: "Welcome to HydroNet" }).waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Welcome to HydroNet" }).waitFor();
      assert.equal(await page.locator("#logout").isHidden(), true);
    });
  });

  test("chat streams a Markdown reply as it arrives, safely rendered", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@chat.e2e", tenant: "Chat Water" });
      // The chat view renders after sign-up; observe its message log once it is there.
      await page.locator(".messages").waitFor({ state: "attached" });
      // Record every length the reply's text takes on the page as it changes.
      await page.evaluate(() => {
        window.replyLengths = new Set();
        const log = document.querySelector(".messages");
        new MutationObserver(() => {
          const content = log.querySelector("article.assistant:last-of-type .content");
          if (content?.textContent) window.replyLengths.add(content.textContent.length);
        }).observe(log, { subtree: true, childList: true, characterData: true });
      });
      await page.getByLabel("Message").fill("How do I compute head loss?");
      await page.getByRole("button", { name: "Send" }).click();

      const reply = page.locator("article.message.assistant").last();
      await reply.locator("pre code").waitFor();
      await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();
      const full = await reply.locator(".content").textContent();
      // The reply grew in steps: it was rendered as it arrived, not all at the end.
      const lengths = await page.evaluate(() => [...window.replyLengths]);
      const partials = lengths.filter((n) => n < full.length);
      assert.ok(partials.length >= 2, `rendered lengths: ${lengths}, final ${full.length}`);

      assert.equal(await reply.locator("strong").first().textContent(), "Hazen-Williams");
      assert.match(await reply.locator("pre code").textContent(), /hf = 10\.67/);
      assert.equal(await reply.locator("li").count(), 2);
      const link = reply.locator("a");
      assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
      assert.equal(await reply.locator("b").count(), 0, "HTML in the reply is shown as text");
      assert.match(full, /<b>not bold<\/b>/);

      // The new conversation is listed under the first words of the message.
      const item = page.locator(".conversation-list a", { hasText: "How do I compute head loss?" });
      await item.waitFor();
      assert.match(page.url(), /#\/chat\/[0-9a-f-]{36}$/);

      // Rename, then the reply is still there after a reload.
      page.once("dialog", (dialog) => dialog.accept("Head loss"));
      await page.getByRole("button", { name: "Rename: How do I compute head loss?" }).click();
      await page.locator(".conversation-list a", { hasText: "Head loss" }).waitFor();
      await page.reload();
      await page.locator("article.message.assistant pre code").waitFor();
      await shoot(page, "03-chat");

      // Delete it.
      page.once("dialog", (dialog) => dialog.accept());
      await page.getByRole("button", { name: "Delete: Head loss" }).click();
      await page.getByText("No conversations yet. Start one.").waitFor();
    });
  });

  test("the stop button cancels a streaming reply", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@stop.e2e", tenant: "Stop Water" });
      const before = model.calls.length;
      await page.getByLabel("Message").fill("Explain pump curves slowly");
      await page.getByRole("button", { name: "Send" }).click();
      const reply = page.locator("article.message.assistant").last();
      await reply.locator(".content", { hasText: "word2" }).waitFor();
      await page.getByRole("button", { name: "Stop" }).click();
      await reply.getByText("Stopped.").waitFor();
      const shown = await reply.locator(".content").textContent();
      assert.doesNotMatch(shown, /word59/);
      await shoot(page, "04-chat-stopped");

      // The server dropped the upstream call too: the model saw the client go.
      const call = model.calls[before];
      for (let i = 0; i < 50 && !call.aborted; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(call.aborted, true, "the model call was cancelled");
      assert.equal(call.finished, false);
      assert.equal(await page.getByRole("button", { name: "Send" }).isEnabled(), true);
    });
  });

  test("the MCP tools the assistant calls are shown with its reply", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@tools.e2e", tenant: "Tools Water" });
      const created = await apiAs("owner@tools.e2e", "POST", "/api/tenant/mcp-servers", { name: "water", url: mcp.url });
      assert.equal(created.status, 201, JSON.stringify(created.body));

      // Enable the tool from the MCP page.
      await page.getByRole("link", { name: "Tools (MCP)" }).click();
      await page.getByRole("heading", { name: /^water/ }).waitFor();
      await page.getByLabel("Enabled: pipe_velocity").check();
      await page.getByRole("button", { name: "Save" }).click();
      await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
      await shoot(page, "11-mcp");

      await page.getByRole("link", { name: "Chat", exact: true }).click();
      await page.getByLabel("Message").fill("Velocity of 50 L/s in a 200 mm pipe?");
      await page.getByRole("button", { name: "Send" }).click();
      const reply = page.locator("article.message.assistant").last();
      await reply.locator(".content strong").waitFor();
      assert.equal(await reply.locator(".tools code.tool").textContent(), "water__pipe_velocity");
      assert.match(await reply.locator(".tools").textContent(), /Tools used/);
      assert.equal(await reply.locator(".content strong").textContent(), "v = 1.59 m/s");
      await shoot(page, "03-chat-tools");
    });
  });

  test("quota and rate-limit refusals are explained in words", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@quota.e2e", tenant: "Quota Water" });
      const me = await apiAs("owner@quota.e2e", "GET", "/api/auth/me");
      const limited = await apiAs(ADMIN_EMAIL, "PUT", `/api/admin/tenants/${me.body.tenant.id}/limits`, {
        tokens_per_day: 10,
      });
      assert.equal(limited.status, 200, JSON.stringify(limited.body));

      // The turn that crosses the budget is answered; the next one is refused.
      await page.getByLabel("Message").fill("Size a pump for 50 L/s");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator("article.message.assistant pre code").waitFor();
      await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();
      await page.getByLabel("Message").fill("And for 80 L/s?");
      await page.getByRole("button", { name: "Send" }).click();
      const alert = page.locator(".thread [role=alert]");
      await alert.filter({ hasText: "token budget is used up" }).waitFor();
      assert.equal(await page.locator("article.message.assistant").count(), 1);
      assert.equal(await page.locator("article.message.user").count(), 1);
      assert.equal(await page.getByLabel("Message").inputValue(), "And for 80 L/s?");
      await shoot(page, "05-chat-quota");

      const words = await page.evaluate(async () => {
        const { turnError } = await import("/console/chat.js");
        return turnError({ code: "rate_limited", retryAfter: 7, message: "slow down" });
      });
      assert.equal(words, "Too many requests; try again in 7 s.");
    });
  });

  test("usage shows tokens and requests per day as charts, with the plan's limits", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@usage.e2e", tenant: "Usage Water" });
      await page.getByLabel("Message").fill("What is NPSH?");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator("article.message.assistant pre code").waitFor();
      await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();

      await page.getByRole("link", { name: "Usage" }).click();
      const tokens = page.getByRole("img", { name: /^Tokens per day/ });
      await tokens.waitFor();
      assert.equal(await page.locator("svg.chart").count(), 2);
      const bars = page.locator("svg.chart rect.bar");
      assert.ok((await bars.count()) >= 2, "today's tokens and requests are drawn");
      assert.doesNotMatch(await tokens.getAttribute("aria-label"), /: 0 over/);
      await page.getByRole("heading", { name: "Plan limits" }).waitFor();
      assert.match(await page.locator(".meter-text").first().textContent(), /used, .* left/);
      await page.getByRole("cell", { name: "Tokens per day" }).first().waitFor();
      await shoot(page, "05-usage");
    });
  });

  test("a member sees chat but no administration pages", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@team.e2e", tenant: "Team Water" });
      await page.getByRole("link", { name: "Users" }).click();
      await page.getByRole("heading", { name: "Users" }).waitFor();
      await page.getByLabel("Email").fill("member@team.e2e");
      await page.getByLabel("Role").selectOption("member");
      await page.getByLabel(/^Password/).fill(PASSWORD);
      await page.getByRole("button", { name: "Add a user" }).click();
      await page.getByRole("cell", { name: "member@team.e2e" }).waitFor();
      await shoot(page, "06-users");
      await page.getByRole("link", { name: "Roles" }).click();
      await page.getByRole("cell", { name: /^auditor/ }).waitFor();
      await shoot(page, "07-roles");
      await page.getByRole("button", { name: "Log out" }).click();

      await logIn(page, server.url, "member@team.e2e");
      const nav = page.getByRole("navigation", { name: "Main" });
      await nav.getByRole("link", { name: "Chat" }).waitFor();
      const links = await nav.getByRole("link").allTextContents();
      assert.deepEqual(links, ["Chat", "Settings"]);
      await page.goto(`${server.url}/#/admin/audit`);
      await page.getByRole("alert").filter({ hasText: "You do not have access to this page." }).waitFor();
      await shoot(page, "08-member-forbidden");
    });
  });

  test("an admin sees their login in the audit log, filters it and exports it", async () => {
    await withBrowser({}, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@audit.e2e", tenant: "Audit Water" });
      await page.getByRole("button", { name: "Log out" }).click();
      await logIn(page, server.url, "owner@audit.e2e");

      await page.getByRole("link", { name: "Audit log" }).click();
      await page.getByRole("cell", { name: "auth.login", exact: true }).first().waitFor();
      await shoot(page, "09-audit");

      await page.getByLabel("Action").fill("auth.login");
      await page.getByRole("button", { name: "Apply" }).click();
      await page.waitForURL(/action=auth\.login/);
      await page.getByRole("cell", { name: "auth.login", exact: true }).first().waitFor();
      const actions = await page.locator("td[data-label='Action']").allTextContents();
      assert.ok(actions.length >= 1);
      assert.ok(actions.every((a) => a.startsWith("auth.login")), actions.join(","));

      const download = page.waitForEvent("download");
      await page.getByRole("button", { name: "Export CSV" }).click();
      const file = await download;
      assert.equal(file.suggestedFilename(), "audit-log.csv");
      const { readFile } = await import("node:fs/promises");
      const csv = await readFile(await file.path(), "utf8");
      assert.match(csv.split("\n")[0], /action/);
      assert.match(csv, /auth\.login/);

      // Creating an API key shows its secret once.
      await page.getByRole("link", { name: "API keys" }).click();
      await page.getByLabel("Name").fill("ci");
      await page.getByRole("button", { name: "Create" }).click();
      const secret = page.getByTestId("new-key");
      await secret.waitFor();
      assert.match(await secret.textContent(), /^hnk_/);
      await shoot(page, "10-api-keys");
      await page.reload();
      await page.getByRole("cell", { name: "ci", exact: true }).waitFor();
      assert.equal(await page.getByTestId("new-key").count(), 0);

      for (const [link, name] of [["Tools (MCP)", "11-mcp-empty"], ["WeChat", "12-wechat"], ["Settings", "13-settings"]]) {
        await page.getByRole("link", { name: link }).click();
        await page.getByRole("heading", { level: 1 }).waitFor();
        await shoot(page, name);
      }
    });
  });

  test("the system administrator sees the overview and every tenant", async () => {
    await withBrowser({}, async ({ page }) => {
      await logIn(page, server.url, ADMIN_EMAIL);
      await page.getByRole("link", { name: "System" }).click();
      await page.getByRole("heading", { name: "System administration" }).waitFor();
      await page.getByRole("cell", { name: /Signup Water/ }).waitFor();
      await shoot(page, "14-system");
    });
  });

  test("the language follows the browser and can be switched", async () => {
    await withBrowser({ locale: "zh-CN" }, async ({ page }) => {
      await page.goto(server.url);
      await page.getByRole("heading", { name: "欢迎使用 HydroNet" }).waitFor();
      assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
      const keys = await page.evaluate(async () => (await import("/console/i18n.js")).keys());
      assert.deepEqual(keys.zh, keys.en, "both languages have every text");
      await shoot(page, "15-login-zh");

      await page.getByLabel("语言").selectOption("en");
      await page.getByRole("heading", { name: "Welcome to HydroNet" }).waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Welcome to HydroNet" }).waitFor();

      await page.getByLabel("Language").selectOption("zh");
      await signUp(page, server.url, { email: "owner@zh.e2e", tenant: "水务" });
      await page.getByRole("link", { name: "对话" }).waitFor();
      await page.getByRole("button", { name: "发送" }).waitFor();
      await shoot(page, "16-chat-zh");
    });
  });

  test("the console works at phone width with keyboard navigation", async () => {
    await withBrowser({ viewport: { width: 390, height: 844 } }, async ({ page }) => {
      await signUp(page, server.url, { email: "owner@phone.e2e", tenant: "Phone Water" });
      const nav = page.getByRole("navigation", { name: "Main" });
      assert.equal(await nav.isVisible(), false, "the menu is folded");
      await page.getByRole("button", { name: "Menu" }).click();
      await nav.getByRole("link", { name: "Usage" }).click();
      await page.getByRole("img", { name: /^Tokens per day/ }).waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `no horizontal scrolling (${width}px)`);
      await shoot(page, "17-phone-usage");

      // The message box is reachable by keyboard and Enter sends.
      await page.goto(`${server.url}/#/chat`);
      await page.getByLabel("Message").focus();
      await page.keyboard.type("Hello from a phone");
      await page.keyboard.press("Enter");
      await page.locator("article.message.assistant pre code").waitFor();
      await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();
      await shoot(page, "18-phone-chat");
    });
  });
});
