// Chat: the conversation list, and a thread whose replies stream in as they are written.

import * as api from "./api.js";
import { h, mount, toast } from "./dom.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

const base = (id) => `/api/chat/conversations${id ? `/${encodeURIComponent(id)}` : ""}`;

/** The words for a refused or failed turn, by its problem code. */
export function turnError(err) {
  if (err.code === "quota_exceeded") return t("chat.quota", { detail: err.message });
  if (err.code === "rate_limited") return t("chat.rateLimited", { seconds: err.retryAfter || 60 });
  if (err.code === "upstream_error" || err.code === "upstream_timeout") {
    return t("chat.upstream", { detail: err.message });
  }
  return t("app.error", { detail: err.message });
}

/** The chat page; `rest` is the open conversation's id, if any. */
export async function chatView({ rest }) {
  const state = { id: rest || null, conversations: [], controller: null };

  const list = h("ul", { class: "conversation-list" });
  const heading = h("h2", { id: "thread-title" }, t("chat.pick"));
  const log = h("div", { class: "messages", role: "log", "aria-live": "polite", "aria-labelledby": "thread-title" });
  const alert = h("p", { class: "form-error", role: "alert" });
  const input = h("textarea", {
    id: "chat-input",
    name: "message",
    rows: 3,
    placeholder: t("chat.placeholder"),
    required: true,
    maxlength: 32000,
  });
  const sendButton = h("button", { type: "submit", class: "primary" }, t("chat.send"));
  const stopButton = h("button", { type: "button", class: "danger", hidden: true, onclick: () => state.controller?.abort() }, t("chat.stop"));
  const composer = h(
    "form",
    { class: "composer" },
    h("label", { for: "chat-input", class: "visually-hidden" }, t("chat.message")),
    input,
    h("div", { class: "composer-actions" }, stopButton, sendButton),
  );

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text && !state.controller) sendTurn(text);
  });

  function renderList() {
    if (!state.conversations.length) {
      return mount(list, h("li", { class: "empty" }, t("chat.empty")));
    }
    mount(
      list,
      state.conversations.map((c) =>
        h(
          "li",
          { class: c.id === state.id ? "active" : "" },
          h("a", { href: `#/chat/${c.id}`, "aria-current": c.id === state.id ? "page" : null }, c.title),
          h(
            "span",
            { class: "row-actions" },
            h("button", { type: "button", class: "icon", "aria-label": `${t("chat.rename")}: ${c.title}`, onclick: () => rename(c) }, "✎"),
            h("button", { type: "button", class: "icon", "aria-label": `${t("chat.delete")}: ${c.title}`, onclick: () => remove(c) }, "×"),
          ),
        ),
      ),
    );
  }

  async function rename(c) {
    const title = prompt(t("chat.renamePrompt"), c.title);
    if (!title || !title.trim() || title.trim() === c.title) return;
    try {
      const body = await api.patch(base(c.id), { title: title.trim() });
      Object.assign(c, body.conversation);
      if (c.id === state.id) heading.textContent = c.title;
      renderList();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function remove(c) {
    if (!confirm(t("chat.confirmDelete", { title: c.title }))) return;
    try {
      await api.del(base(c.id));
      state.conversations = state.conversations.filter((x) => x.id !== c.id);
      if (c.id === state.id) {
        location.hash = "#/chat";
      } else {
        renderList();
      }
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function create(title) {
    const body = await api.postJson(base(), title ? { title } : {});
    state.conversations.unshift(body.conversation);
    return body.conversation;
  }

  function bubble(role, content, extra = {}) {
    const body = h("div", { class: "content" });
    if (role === "assistant") body.innerHTML = renderMarkdown(content);
    else body.textContent = content;
    const tools = h("div", { class: "tools", hidden: true });
    const note = h("p", { class: "note" }, extra.note || null);
    const el = h(
      "article",
      { class: `message ${role}${extra.failed ? " failed" : ""}`, "aria-label": role === "user" ? t("chat.you") : t("chat.assistant") },
      h("header", {}, role === "user" ? t("chat.you") : t("chat.assistant")),
      tools,
      body,
      note,
    );
    log.append(el);
    return { el, body, tools, note };
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  async function open(id) {
    const body = await api.get(base(id));
    const conversation = body.conversation;
    heading.textContent = conversation.title;
    mount(log);
    for (const m of conversation.messages) {
      const failed = m.status !== "ok" && m.role === "user";
      bubble(m.role, m.content, { failed, note: failed ? t("chat.failed") : null });
    }
    scrollDown();
  }

  function streaming(on) {
    stopButton.hidden = !on;
    sendButton.disabled = on;
    input.disabled = on;
    if (!on) input.focus();
  }

  async function sendTurn(text) {
    alert.textContent = "";
    if (!state.id) {
      try {
        const conversation = await create(text.slice(0, 60));
        state.id = conversation.id;
        heading.textContent = conversation.title;
        mount(log);
        // Address the conversation without a re-render, which would drop the stream.
        history.replaceState(null, "", `#/chat/${conversation.id}`);
        renderList();
      } catch (err) {
        alert.textContent = turnError(err);
        return;
      }
    }
    input.value = "";
    const mine = bubble("user", text);
    const reply = bubble("assistant", "");
    reply.el.classList.add("pending");
    reply.note.textContent = t("chat.thinking");
    scrollDown();

    state.controller = new AbortController();
    streaming(true);
    let content = "";
    let frame = 0;
    const paint = () => {
      frame = 0;
      reply.body.innerHTML = renderMarkdown(content);
      scrollDown();
    };
    try {
      const response = await api.send("POST", `${base(state.id)}/messages`, { message: text, stream: true }, {
        signal: state.controller.signal,
        accept: "text/event-stream",
      });
      await api.readEvents(response, (name, data) => {
        if (name === "delta" && data.content) {
          content += data.content;
          reply.note.textContent = "";
          frame ||= requestAnimationFrame(paint);
        } else if (name === "tool") {
          reply.tools.hidden = false;
          if (!reply.tools.childElementCount) reply.tools.append(h("span", { class: "tools-label" }, `${t("chat.toolCalls")}:`));
          reply.tools.append(h("code", { class: "tool" }, data.name));
        } else if (name === "done") {
          reply.el.dataset.messageId = data.message_id;
        } else if (name === "error") {
          const err = new api.ApiError(data.status || 502, data);
          reply.el.classList.add("failed");
          reply.note.textContent = turnError(err);
        }
      });
      paint();
      reply.el.classList.remove("pending");
      if (reply.note.textContent === t("chat.thinking")) reply.note.textContent = "";
    } catch (err) {
      paint();
      reply.el.classList.remove("pending");
      if (err.name === "AbortError") {
        reply.el.classList.add("stopped");
        reply.note.textContent = t("chat.stopped");
      } else if (!content) {
        // Refused before anything was stored: give the message back to edit or resend.
        reply.el.remove();
        mine.el.remove();
        input.value = text;
        alert.textContent = turnError(err);
      } else {
        reply.el.classList.add("failed");
        reply.note.textContent = turnError(err);
      }
    } finally {
      state.controller = null;
      streaming(false);
    }
  }

  const page = h(
    "div",
    { class: "chat" },
    h(
      "aside",
      { class: "sidebar", "aria-labelledby": "conversations-title" },
      h("h2", { id: "conversations-title" }, t("chat.conversations")),
      h(
        "button",
        {
          type: "button",
          class: "primary new-conversation",
          onclick: () => {
            if (state.controller) return;
            if (location.hash === "#/chat") {
              state.id = null;
              heading.textContent = t("chat.pick");
              mount(log);
              renderList();
              input.focus();
            } else {
              location.hash = "#/chat";
            }
          },
        },
        `+ ${t("chat.new")}`,
      ),
      list,
    ),
    h("section", { class: "thread" }, heading, log, alert, composer),
  );

  const listed = await api.get(`${base()}?limit=100`);
  state.conversations = listed.conversations;
  if (state.id) await open(state.id);
  renderList();
  return page;
}
