// The pieces every browser test needs: a mock OpenAI-compatible model, the real server
// binary on a fresh SQLite database, and headless Chromium with a fresh profile.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
export const screenshots = path.join(here, "screenshots");
export const PASSWORD = "Console-e2e-Passw0rd!";
export const ADMIN_EMAIL = "root@hydronet.e2e";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * What the mock model answers to `prompt`. A prompt containing "slowly" gets a long reply
 * in chunks 250 ms apart, so a test can stop it mid-stream.
 */
export function replyFor(prompt) {
  if (prompt.includes("slowly")) {
    return { chunks: Array.from({ length: 60 }, (_, i) => `word${i} `), delay: 250 };
  }
  const text =
    "**Hazen-Williams** head loss:\n\n" +
    "- `C` is the roughness coefficient\n" +
    "- `D` is the diameter in metres\n\n" +
    "```text\nhf = 10.67 * L * Q^1.852 / (C^1.852 * D^4.87)\n```\n" +
    "See [the formula](https://en.wikipedia.org/wiki/Hazen%E2%80%93Williams_equation). <b>not bold</b>";
  const chunks = text.match(/[\s\S]{1,24}/g);
  return { chunks, delay: 40 };
}

/**
 * The mock model's answer when tools are in play: a call of the first tool offered, then,
 * once its result is in the conversation, a reply quoting it. Null when no tools are.
 */
function toolReply(body) {
  const messages = body.messages || [];
  const result = messages.at(-1)?.role === "tool" ? messages.at(-1) : null;
  if (!result && !(body.tools || []).length) return null;
  const message = result
    ? { role: "assistant", content: `The tool says: **${result.content}**` }
    : {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: body.tools[0].function.name, arguments: JSON.stringify({ flow_l_per_s: 50, diameter_mm: 200 }) },
          },
        ],
      };
  return {
    id: "mock-tools",
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: body.model || "mock",
    choices: [{ index: 0, message, finish_reason: result ? "stop" : "tool_calls" }],
    usage: { prompt_tokens: 30, completion_tokens: 10, total_tokens: 40 },
  };
}

/** An OpenAI-compatible `/v1/chat/completions` that streams, on a local port. */
export async function startMockModel() {
  const calls = [];
  const server = http.createServer(async (req, res) => {
    let raw = "";
    for await (const piece of req) raw += piece;
    if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(raw || "{}");
    const toolTurn = toolReply(body);
    if (toolTurn) {
      calls.push({ prompt: "(tools)", stream: false, finished: true, aborted: false });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(toolTurn));
      return;
    }
    const last = [...(body.messages || [])].reverse().find((m) => m.role === "user");
    const prompt = String(last?.content ?? "");
    const call = { prompt, stream: Boolean(body.stream), finished: false, aborted: false };
    calls.push(call);
    const { chunks, delay } = replyFor(prompt);
    const usage = { prompt_tokens: 40 + prompt.length, completion_tokens: chunks.length * 6, total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

    if (!body.stream) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({
        id: "mock-1",
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model || "mock",
        choices: [{ index: 0, message: { role: "assistant", content: chunks.join("") }, finish_reason: "stop" }],
        usage,
      }));
      call.finished = true;
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    res.on("close", () => {
      if (!call.finished) call.aborted = true;
    });
    const chunk = (delta, finish = null, extra = {}) =>
      `data: ${JSON.stringify({
        id: "mock-1",
        object: "chat.completion.chunk",
        created: Math.floor(Date.now() / 1000),
        model: body.model || "mock",
        choices: delta ? [{ index: 0, delta, finish_reason: finish }] : [],
        ...extra,
      })}\n\n`;
    res.write(chunk({ role: "assistant", content: "" }));
    for (const piece of chunks) {
      await sleep(delay);
      if (res.destroyed || call.aborted) return;
      res.write(chunk({ content: piece }));
    }
    res.write(chunk({}, "stop"));
    res.write(chunk(null, null, { usage }));
    res.end("data: [DONE]\n\n");
    call.finished = true;
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/v1`, calls, close: () => new Promise((r) => server.close(r)) };
}

/**
 * A minimal MCP server over streamable HTTP (JSON responses, no session) with one tool,
 * `pipe_velocity`.
 */
export async function startMockMcp() {
  const tool = {
    name: "pipe_velocity",
    description: "Mean velocity in a full circular pipe.",
    inputSchema: {
      type: "object",
      properties: { flow_l_per_s: { type: "number" }, diameter_mm: { type: "number" } },
      required: ["flow_l_per_s", "diameter_mm"],
    },
  };
  const server = http.createServer(async (req, res) => {
    let raw = "";
    for await (const piece of req) raw += piece;
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    const message = JSON.parse(raw || "{}");
    if (message.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const reply = (result) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
    };
    switch (message.method) {
      case "initialize":
        return reply({
          protocolVersion: message.params?.protocolVersion || "2025-03-26",
          capabilities: { tools: {} },
          serverInfo: { name: "mock-water", version: "1.0.0" },
        });
      case "tools/list":
        return reply({ tools: [tool] });
      case "tools/call": {
        const { flow_l_per_s: q, diameter_mm: d } = message.params?.arguments || {};
        const velocity = (q / 1000) / (Math.PI * (d / 1000) ** 2 / 4);
        return reply({ content: [{ type: "text", text: `v = ${velocity.toFixed(2)} m/s` }], isError: false });
      }
      default:
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, error: { code: -32601, message: "no such method" } }));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/mcp`, close: () => new Promise((r) => server.close(r)) };
}

/** The already-built server binary. */
function serverBinary() {
  const configured = process.env.HYDRONET_SAAS_BIN || "target/debug/hydronet-saas";
  return path.resolve(repoRoot, configured);
}

/**
 * The server on a free port with a fresh database and a system administrator
 * (`ADMIN_EMAIL` / `PASSWORD`), its model calls going to `modelUrl`.
 */
export async function startServer(modelUrl) {
  const dir = mkdtempSync(path.join(tmpdir(), "hydronet-e2e-"));
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    DEBUG: "false",
    RUST_LOG: process.env.RUST_LOG || "warn",
    DATABASE_URL: `sqlite://${path.join(dir, "hydronet.db")}?mode=rwc`,
    SECRET_KEY: randomBytes(32).toString("hex"),
    JWT_SECRET_KEY: randomBytes(32).toString("hex"),
    HYDRONET_LLM_BASE_URL: modelUrl,
    ALIYUN_API_KEY: "test",
    HYDRONET_AUDIT_SPOOL_DIR: path.join(dir, "spool"),
    HYDRONET_PASSWORD_HASH_CONCURRENCY: "2",
    HYDRONET_ADMIN_PASSWORD: PASSWORD,
    HYDRONET_BIND: `127.0.0.1:${port}`,
    // The mock MCP server listens on loopback, which the egress policy refuses by default.
    HYDRONET_MCP_ALLOW: "127.0.0.1/32",
  };
  const binary = serverBinary();
  const init = spawnSync(binary, ["init", "--email", ADMIN_EMAIL], { cwd: dir, env, encoding: "utf8" });
  if (init.status !== 0) {
    throw new Error(`${binary} init failed (${init.status}): ${init.stderr || init.error}`);
  }

  const child = spawn(binary, ["serve", "--bind", `127.0.0.1:${port}`], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${log}`);
    try {
      const response = await fetch(`${url}/api/health/live`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (i > 200) throw new Error(`server did not start:\n${log}`);
    await sleep(100);
  }
  return {
    url,
    log: () => log,
    async close() {
      child.kill("SIGTERM");
      await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium with a fresh profile; `locale` sets navigator.language. */
export async function startBrowser({ locale = "en-US", viewport = { width: 1280, height: 860 } } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "hydronet-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
    headless: true,
    locale,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const errors = [];
  context.on("weberror", (error) => errors.push(String(error.error())));
  context.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `screenshots/<name>.png`. */
export async function shoot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

/** Signs a new tenant up through the console; resolves on the chat page. */
export async function signUp(page, baseUrl, { email, tenant }) {
  await page.goto(`${baseUrl}/#/signup`);
  await page.getByLabel(/Organisation name|组织名称/).fill(tenant);
  await page.getByLabel(/^(Email|邮箱)$/).fill(email);
  await page.getByLabel(/^(Password|密码)$/).fill(PASSWORD);
  await page.getByRole("button", { name: /^(Sign up|注册)$/ }).click();
  await page.waitForURL(/#\/chat/);
}

/** Logs in through the console. */
export async function logIn(page, baseUrl, email, password = PASSWORD) {
  await page.goto(`${baseUrl}/#/login`);
  await page.getByLabel(/^(Email|邮箱)$/).fill(email);
  await page.getByLabel(/^(Password|密码)$/).fill(password);
  await page.getByRole("button", { name: /^(Log in|登录)$/ }).click();
  await page.locator("#logout:not([hidden])").waitFor();
}
