/* The conversation log: messages, their actions (copy, regenerate, edit), the answer being
 * written, and scrolling that follows new text only while the reader is at the bottom.
 *
 * User text is shown as text; answers are rendered as Markdown (markdown.js) and carry the raw
 * model text in data-text. Each message element has data-index, its place in chat.messages.
 */

import { splitThinking } from "../thinking.js";
import { MarkdownStream } from "./markdown.js";

const NEAR_BOTTOM_PX = 48;

function button(label, action, title = label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "msg-action";
  b.dataset.action = action;
  b.textContent = label;
  if (title !== label) b.setAttribute("aria-label", title);
  return b;
}

/* An answer's body: a reasoning model's think block (splitThinking) as plain text in a collapsed
   <details>, then the reply as Markdown. */
class AnswerBody {
  constructor(body, onRender) {
    this.details = document.createElement("details");
    this.details.className = "thinking";
    this.details.hidden = true;
    this.summary = document.createElement("summary");
    this.thought = document.createElement("div");
    this.thought.className = "thought";
    this.details.append(this.summary, this.thought);
    const reply = document.createElement("div");
    body.append(this.details, reply);
    this.reply = new MarkdownStream(reply, onRender);
  }

  set(text) {
    const { thinking, reply, open } = splitThinking(text);
    this.details.hidden = thinking === null;
    if (thinking !== null) {
      this.summary.textContent = open ? "Thinking…" : "Thought";
      this.thought.textContent = thinking;
    }
    this.reply.set(reply);
  }

  finish() {
    this.reply.finish();
  }
}

export class ConversationView {
  /** handlers: {regenerate(), edit(index, text), starter(text)} */
  constructor({ log, emptyHint, jump }, handlers) {
    this.log = log;
    this.emptyHint = emptyHint;
    this.jump = jump;
    this.handlers = handlers;
    this.follow = true;
    this.autoTop = 0;       // scrollTop after the last automatic scroll to the end
    log.addEventListener("scroll", () => this.onScroll());
    log.addEventListener("click", (event) => this.onClick(event));
    jump.addEventListener("click", () => {
      this.follow = true;
      this.scrollToEnd();
    });
  }

  /* ---- scrolling ---- */

  atBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < NEAR_BOTTOM_PX;
  }

  onScroll() {
    this.follow = this.atBottom();
    this.jump.hidden = this.follow;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
    this.autoTop = this.log.scrollTop;
    this.jump.hidden = true;
  }

  /** After new content: keep the end in view when the reader was there, else offer the jump.
   * A reader who scrolled up since the last automatic scroll is left there, even when their
   * scroll event has not been handled yet. */
  changed() {
    if (this.follow && this.log.scrollTop < this.autoTop - NEAR_BOTTOM_PX) this.follow = false;
    if (this.follow) this.scrollToEnd();
    else this.jump.hidden = false;
  }

  /* ---- messages ---- */

  /** Show a whole chat (messages: [{role, content, meta}]), scrolled to its end. */
  show(messages, { completion = false } = {}) {
    this.log.replaceChildren();
    messages.forEach((m, i) => {
      if (m.role === "user") this.addUser(m.content, i);
      else if (m.role === "assistant") this.addAnswer(i, completion, m).finish(m.content, m.meta);
    });
    if (!messages.length) this.log.append(this.emptyHint);
    this.follow = true;
    this.scrollToEnd();
    this.markLast();
  }

  article(role, index) {
    this.emptyHint.remove();
    const article = document.createElement("article");
    article.className = `msg msg-${role}`;
    article.dataset.index = index;
    const body = document.createElement("div");
    body.className = "msg-body";
    body.dataset.role = role;
    const actions = document.createElement("div");
    actions.className = "msg-actions";
    article.append(body, actions);
    this.log.append(article);
    return { article, body, actions };
  }

  addUser(text, index) {
    const { article, body, actions } = this.article("user", index);
    body.textContent = text;
    actions.append(button("Edit", "edit", "Edit message"));
    this.follow = true;         // a new question brings the end back into view
    this.scrollToEnd();
    return article;
  }

  /** A new answer element; returns its controller {set(text), finish(text, meta), article, body}. */
  addAnswer(index, completion = false, saved = null) {
    const { article, body, actions } = this.article("assistant", index);
    if (completion) article.classList.add("completion");
    body.dataset.text = "";
    const meta = document.createElement("p");
    meta.className = "msg-meta";
    article.insertBefore(meta, actions);
    actions.append(button("Copy", "copy", "Copy message"), button("Regenerate", "regenerate", "Regenerate answer"));
    const answer = new AnswerBody(body, () => this.changed());
    if (!saved) {
      article.classList.add("pending");
      this.changed();
    }
    const view = {
      article,
      body,
      set: (text) => {
        if (text) article.classList.remove("pending");
        body.dataset.text = text;
        answer.set(text);
      },
      stats: (text) => {
        meta.textContent = text;
        this.changed();
      },
      finish: (text, info = {}) => {
        article.classList.remove("pending");
        body.dataset.text = text;
        answer.set(text);
        answer.finish();
        if (info.stop_reason) article.dataset.stopReason = info.stop_reason;
        if (info.prompt_tokens_evaluated !== undefined) article.dataset.promptTokensEvaluated = info.prompt_tokens_evaluated;
        meta.textContent = info.stats || "";
        this.markLast();
        this.changed();
      },
    };
    return view;
  }

  /** Remove the messages from `index` on (a regenerated answer, an edited question, a rejection). */
  truncate(index) {
    for (const el of [...this.log.querySelectorAll(".msg")]) {
      if (Number(el.dataset.index) >= index) el.remove();
    }
    if (!this.log.querySelector(".msg")) this.log.append(this.emptyHint);
    this.markLast();
  }

  /** Only the last answer offers Regenerate. */
  markLast() {
    const answers = this.log.querySelectorAll(".msg-assistant");
    answers.forEach((a, i) => a.classList.toggle("last", i === answers.length - 1));
  }

  setBusy(busy) {
    this.log.classList.toggle("busy", busy);
  }

  /* ---- actions ---- */

  async onClick(event) {
    const target = event.target.closest("button");
    if (!target || !this.log.contains(target)) return;
    if (target.classList.contains("starter")) return this.handlers.starter(target.textContent);
    const article = target.closest(".msg");
    switch (target.dataset.action) {
      case "copy-code":
        return copy(target, target.closest(".code-block").querySelector("pre code").textContent);
      case "copy":
        return copy(target, article.querySelector(".msg-body").dataset.text);
      case "regenerate":
        return this.handlers.regenerate();
      case "edit":
        return this.edit(article);
    }
  }

  /** Edit a user message in place; saving sends it and drops what came after it. */
  edit(article) {
    if (article.querySelector(".msg-edit")) return;
    const body = article.querySelector(".msg-body");
    const form = document.createElement("form");
    form.className = "msg-edit";
    const box = document.createElement("textarea");
    box.value = body.textContent;
    box.setAttribute("aria-label", "Edited message");
    box.rows = Math.min(10, box.value.split("\n").length + 1);
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "primary";
    save.textContent = "Save and send";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    form.append(box, save, cancel);
    body.hidden = true;
    article.append(form);
    box.focus();
    const close = () => {
      form.remove();
      body.hidden = false;
    };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!box.value.trim()) return;
      close();
      this.handlers.edit(Number(article.dataset.index), box.value);
    });
  }
}

async function copy(button, text) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = label), 1500);
}

