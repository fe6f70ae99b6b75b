// The HydroNet API reference: reads /api/openapi.json and lists every operation by tag,
// with its permission, parameters, body and responses, and a form to try it against this
// server. Plain DOM, no dependencies, nothing loaded from elsewhere; text from the
// document is only ever set as text, never parsed as HTML.
"use strict";

(function () {
  const SPEC_URL = "/api/openapi.json";
  const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];
  let spec = null;

  // --- small DOM helpers ---------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Prose with `code` spans, as the document writes it.
  function prose(text, tag) {
    const node = el(tag || "p", { class: "prose" });
    String(text || "").split("`").forEach((part, i) => {
      node.append(i % 2 ? el("code", { text: part }) : document.createTextNode(part));
    });
    return node;
  }

  function slug(text) {
    return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-");
  }

  // --- schemas ---------------------------------------------------------------------------

  function refName(ref) {
    return ref.split("/").pop();
  }

  function resolve(schema) {
    let seen = 0;
    while (schema && schema.$ref && seen++ < 20) {
      schema = (spec.components.schemas || {})[refName(schema.$ref)] || {};
    }
    return schema || {};
  }

  // allOf parts merged into one object schema, for display and examples.
  function flatten(schema) {
    schema = resolve(schema);
    if (!schema.allOf) return schema;
    const merged = { type: "object", properties: {}, required: [] };
    for (const part of schema.allOf.map(flatten)) {
      Object.assign(merged.properties, part.properties || {});
      merged.required.push(...(part.required || []));
      if (part.description && !merged.description) merged.description = part.description;
    }
    return merged;
  }

  function typeLabel(schema) {
    const named = schema.$ref ? refName(schema.$ref) : null;
    const s = flatten(schema);
    let type = [].concat(s.type || (s.properties ? "object" : "any")).join(" | ");
    if (type === "array" || type === "array | null") {
      type = type.replace("array", "array of " + typeLabel(s.items || {}));
    }
    if (s.format) type += " (" + s.format + ")";
    return named ? named + ": " + type : type;
  }

  function schemaTree(schema, depth) {
    const s = flatten(schema);
    const box = el("div", { class: "schema" });
    const head = el("div", { class: "schema-type" }, [el("code", { text: typeLabel(schema) })]);
    if (s.enum) head.append(" one of ", el("code", { text: s.enum.map((v) => JSON.stringify(v)).join(", ") }));
    if (s.minimum !== undefined || s.maximum !== undefined) {
      head.append(" ", el("span", { class: "muted", text: "range " + (s.minimum ?? "…") + " to " + (s.maximum ?? "…") }));
    }
    box.append(head);
    if (s.description) box.append(prose(s.description, "div"));
    if (depth > 6) return box;

    const props = s.properties || {};
    if (Object.keys(props).length) {
      const rows = el("ul", { class: "props" });
      for (const [name, child] of Object.entries(props)) {
        const required = (s.required || []).includes(name);
        rows.append(el("li", {}, [
          el("code", { class: "prop", text: name }),
          required ? el("span", { class: "badge req", text: "required" }) : null,
          schemaTree(child, depth + 1),
        ]));
      }
      box.append(rows);
    }
    const items = s.items ? flatten(s.items) : null;
    if (items && items.properties) box.append(el("div", { class: "muted", text: "each item:" }), schemaTree(s.items, depth + 1));
    if (s.additionalProperties && typeof s.additionalProperties === "object") {
      box.append(el("div", { class: "muted", text: "other keys:" }), schemaTree(s.additionalProperties, depth + 1));
    }
    return box;
  }

  function example(schema, depth) {
    const s = flatten(schema);
    if (depth > 6) return null;
    if (s.default !== undefined) return s.default;
    if (s.enum) return s.enum[0];
    const types = [].concat(s.type || (s.properties ? "object" : "string")).filter((t) => t !== "null");
    switch (types[0]) {
      case "object": {
        const out = {};
        for (const name of s.required || []) out[name] = example((s.properties || {})[name] || {}, depth + 1);
        return out;
      }
      case "array":
        return [example(s.items || {}, depth + 1)];
      case "integer":
      case "number":
        return s.minimum ?? 0;
      case "boolean":
        return false;
      default:
        if (s.format === "date") return new Date().toISOString().slice(0, 10);
        if (s.format === "date-time") return new Date().toISOString();
        return "";
    }
  }

  // --- operations ------------------------------------------------------------------------

  function operations() {
    const list = [];
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        if (item[method]) list.push({ path, method, op: item[method] });
      }
    }
    return list;
  }

  function permissionOf(op) {
    return op["x-required-permission"] || null;
  }

  function opSummary(entry) {
    const permission = permissionOf(entry.op);
    return el("summary", {}, [
      el("span", { class: "method m-" + entry.method, text: entry.method.toUpperCase() }),
      el("code", { class: "path", text: entry.path }),
      el("span", { class: "summary", text: entry.op.summary || "" }),
      permission
        ? el("span", { class: "badge perm", title: "Requires a bearer token with this permission", text: "🔒 " + permission })
        : el("span", { class: "badge public", text: "public" }),
    ]);
  }

  function paramTable(params) {
    if (!params.length) return null;
    const body = el("tbody");
    for (const p of params) {
      body.append(el("tr", {}, [
        el("td", {}, [el("code", { text: p.name }), p.required ? el("span", { class: "badge req", text: "required" }) : null]),
        el("td", { text: p.in }),
        el("td", {}, [el("code", { text: typeLabel(p.schema || {}) })]),
        el("td", {}, [prose(p.description || "", "span")]),
      ]));
    }
    return el("table", { class: "params" }, [
      el("thead", {}, [el("tr", {}, ["name", "in", "type", "description"].map((h) => el("th", { text: h })))]),
      body,
    ]);
  }

  function responseList(responses) {
    const list = el("ul", { class: "responses" });
    for (const [status, response] of Object.entries(responses || {})) {
      const item = el("li", {}, [
        el("span", { class: "status-code s" + String(status)[0], text: status }),
        prose(response.description || "", "span"),
      ]);
      for (const [media, content] of Object.entries(response.content || {})) {
        const more = el("details", { class: "media" }, [el("summary", {}, [el("code", { text: media })])]);
        more.addEventListener("toggle", () => {
          if (more.open && more.childElementCount === 1) more.append(schemaTree(content.schema || {}, 0));
        });
        item.append(more);
      }
      list.append(item);
    }
    return list;
  }

  function requestBodyOf(op) {
    const content = op.requestBody && op.requestBody.content;
    return content && content["application/json"] ? content["application/json"].schema : null;
  }

  function operationDetail(entry) {
    const op = entry.op;
    const parts = [];
    if (op.description) op.description.split("\n\n").forEach((p) => parts.push(prose(p)));
    const permission = permissionOf(op);
    parts.push(el("p", { class: "access" }, permission
      ? ["Bearer token required, with the ", el("code", { text: permission }), " permission."]
      : ["No credential needed."]));

    const params = op.parameters || [];
    if (params.length) parts.push(el("h4", { text: "Parameters" }), paramTable(params));
    const body = requestBodyOf(op);
    if (body) parts.push(el("h4", {}, ["Request body ", el("code", { text: "application/json" })]), schemaTree(body, 0));
    parts.push(el("h4", { text: "Responses" }), responseList(op.responses));
    parts.push(tryForm(entry, params, body));
    return el("div", { class: "op-body" }, parts);
  }

  // --- trying a request ------------------------------------------------------------------

  function tryForm(entry, params, bodySchema) {
    const inputs = new Map();
    const fields = el("div", { class: "try-fields" });
    for (const p of params.filter((p) => p.in === "path" || p.in === "query")) {
      const input = el("input", { type: "text", placeholder: p.in === "path" ? "required" : "optional", spellcheck: "false" });
      inputs.set(p, input);
      fields.append(el("label", {}, [el("span", {}, [p.name, el("small", { text: " " + p.in })]), input]));
    }
    const body = bodySchema
      ? el("textarea", { class: "try-body", rows: 8, spellcheck: "false" })
      : null;
    if (body) body.value = JSON.stringify(example(bodySchema, 0), null, 2);
    const output = el("div", { class: "try-output" });
    const send = el("button", { type: "submit", text: "Send " + entry.method.toUpperCase() });

    const form = el("form", { class: "try" }, [
      el("h4", { text: "Try it" }),
      fields,
      body ? el("label", { class: "block" }, [el("span", { text: "JSON body" }), body]) : null,
      send,
      output,
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send.disabled = true;
      run(entry, inputs, body, output).finally(() => { send.disabled = false; });
    });
    return form;
  }

  function buildUrl(entry, inputs) {
    let path = entry.path;
    const query = new URLSearchParams();
    for (const [p, input] of inputs) {
      const value = input.value.trim();
      if (p.in === "path") {
        if (!value) throw new Error("The path parameter " + p.name + " is required.");
        path = path.replace("{" + p.name + "}", encodeURIComponent(value));
      } else if (value) {
        query.append(p.name, value);
      }
    }
    const qs = query.toString();
    return path + (qs ? "?" + qs : "");
  }

  async function run(entry, inputs, body, output) {
    output.replaceChildren();
    let url;
    const init = { method: entry.method.toUpperCase(), headers: {}, credentials: "omit", cache: "no-store" };
    try {
      url = buildUrl(entry, inputs);
      if (body) {
        JSON.parse(body.value);
        init.body = body.value;
        init.headers["Content-Type"] = "application/json";
      }
    } catch (err) {
      output.append(el("p", { class: "error", text: err instanceof SyntaxError ? "The body is not valid JSON: " + err.message : err.message }));
      return;
    }
    const token = document.getElementById("token").value.trim();
    if (token && permissionOf(entry.op)) init.headers["Authorization"] = "Bearer " + token;

    const line = el("p", { class: "try-status", text: init.method + " " + url + " …" });
    const headers = el("pre", { class: "try-headers" });
    const text = el("pre", { class: "try-text" });
    output.append(line, el("details", {}, [el("summary", { text: "Response headers" }), headers]), text);

    const started = performance.now();
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      line.textContent = "The request failed: " + err.message;
      line.className = "error";
      return;
    }
    line.textContent = response.status + " " + response.statusText + " · " + init.method + " " + url;
    line.classList.add("s" + String(response.status)[0]);
    headers.textContent = [...response.headers].map(([k, v]) => k + ": " + v).join("\n");

    // Read as it arrives, so streamed replies show as they stream.
    let received = "";
    if (response.body && response.body.getReader) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
        text.textContent = received;
      }
      received += decoder.decode();
    } else {
      received = await response.text();
    }
    line.textContent += " · " + Math.round(performance.now() - started) + " ms";
    text.textContent = pretty(received, response.headers.get("content-type"));
    offerToken(received, output);
  }

  function pretty(text, contentType) {
    if (!contentType || !/json/.test(contentType) || /ndjson/.test(contentType)) return text;
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      return text;
    }
  }

  // After a sign-in, one click puts its access token in the token field.
  function offerToken(text, output) {
    let token = null;
    try {
      token = JSON.parse(text).access_token;
    } catch (_) {
      return;
    }
    if (typeof token !== "string" || !token) return;
    output.append(el("button", {
      type: "button",
      class: "use-token",
      text: "Use this access token",
      onclick: () => { document.getElementById("token").value = token; },
    }));
  }

  // --- page ----------------------------------------------------------------------------

  function render() {
    const info = spec.info || {};
    document.getElementById("title").textContent = info.title || "API";
    document.getElementById("version").textContent = info.version ? "v" + info.version : "";
    document.title = (info.title || "API") + " reference";

    const byTag = new Map((spec.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const entry of operations()) {
      const name = (entry.op.tags || ["Other"])[0];
      if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
      byTag.get(name).ops.push(entry);
    }

    const main = document.getElementById("main");
    const nav = document.getElementById("tags");
    main.replaceChildren();
    if (info.description) main.append(prose(info.description));
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      const id = "tag-" + slug(tag.name);
      nav.append(el("li", {}, [el("a", { href: "#" + id, text: tag.name + " (" + ops.length + ")" })]));
      const section = el("section", { id, class: "tag" }, [el("h2", { text: tag.name })]);
      if (tag.description) section.append(prose(tag.description));
      for (const entry of ops) section.append(operationBlock(entry));
      main.append(section);
    }
  }

  function operationBlock(entry) {
    const block = el("details", { class: "op", "data-search": [entry.method, entry.path, entry.op.summary, permissionOf(entry.op)].join(" ").toLowerCase() }, [opSummary(entry)]);
    block.addEventListener("toggle", () => {
      if (block.open && block.childElementCount === 1) block.append(operationDetail(entry));
    });
    return block;
  }

  function applyFilter(text) {
    const needle = text.trim().toLowerCase();
    for (const section of document.querySelectorAll("section.tag")) {
      let shown = 0;
      for (const op of section.querySelectorAll("details.op")) {
        const match = !needle || op.dataset.search.includes(needle);
        op.hidden = !match;
        if (match) shown++;
      }
      section.hidden = shown === 0;
    }
  }

  async function start() {
    document.getElementById("filter").addEventListener("input", (e) => applyFilter(e.target.value));
    document.getElementById("auth").addEventListener("submit", (e) => e.preventDefault());
    document.getElementById("forget").addEventListener("click", () => { document.getElementById("token").value = ""; });
    try {
      const response = await fetch(SPEC_URL, { credentials: "omit", cache: "no-cache" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      spec = await response.json();
      spec.components = spec.components || {};
      render();
    } catch (err) {
      const status = document.getElementById("status");
      status.textContent = "Could not load " + SPEC_URL + ": " + err.message;
      status.className = "status error";
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
