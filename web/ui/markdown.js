/* Model text as Markdown, safely: marked (GitHub-flavoured) -> DOMPurify -> highlight.js.
 *
 * Raw HTML in model text is shown as the text it is (marked's html tokens are escaped), and the
 * sanitizer removes anything else that is not plain formatting; images become links (a model
 * could otherwise make the page fetch from anywhere). Links open in a new tab with
 * rel="noopener noreferrer". Code blocks get highlighting and a Copy button.
 *
 * MarkdownStream renders an answer while it grows without redoing the whole text each time:
 * the text up to the last blank line outside a code fence is rendered once and kept; only the
 * unfinished tail is rendered again, at most once per animation frame.
 */

import { Marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.mjs";
import hljs from "../vendor/highlight.min.js";

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const marked = new Marked({
  gfm: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ href, text }) => `<a href="${escapeHtml(href || "")}">${escapeHtml(text || href || "image")}</a>`,
  },
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["img", "svg", "math", "style", "form", "input", "button", "textarea", "select", "iframe", "video", "audio"],
  FORBID_ATTR: ["style", "id", "name"],
};

/* A code block: highlighted when its language is known, under a bar with the language and Copy. */
function decorateCode(pre) {
  const code = pre.querySelector("code");
  if (!code) return;
  const lang = (code.className.match(/language-([\w+#.-]+)/) || [])[1] || "";
  if (lang && hljs.getLanguage(lang)) {
    code.innerHTML = hljs.highlight(code.textContent, { language: lang, ignoreIllegals: true }).value;
    code.classList.add("hljs");
  }
  const block = document.createElement("div");
  block.className = "code-block";
  const bar = document.createElement("div");
  bar.className = "code-bar";
  const label = document.createElement("span");
  label.textContent = lang || "code";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "code-copy";
  copy.dataset.action = "copy-code";
  copy.textContent = "Copy";
  bar.append(label, copy);
  pre.replaceWith(block);
  block.append(bar, pre);
}

/** Markdown text -> a sanitized DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = DOMPurify.sanitize(marked.parse(text), PURIFY);
  for (const link of fragment.querySelectorAll("a")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  for (const pre of fragment.querySelectorAll("pre")) decorateCode(pre);
  return fragment;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** Renders a growing answer into `element`: set(text) as often as wanted, finish() at the end;
 * onRender() runs after each render (to keep the end in view). */
export class MarkdownStream {
  constructor(element, onRender = () => {}) {
    this.element = element;
    this.onRender = onRender;
    this.text = "";
    this.kept = 0;          // characters rendered for good (up to a block boundary)
    this.scanned = 0;       // characters whose lines were looked at for fences and blank lines
    this.fence = null;      // the open fence ("```", "~~~~", ...), or null
    this.frame = 0;
    this.live = this.part();
  }

  part() {
    const div = document.createElement("div");
    div.className = "md-part";
    this.element.append(div);
    return div;
  }

  set(text) {
    this.text = text;
    this.frame ||= requestAnimationFrame(() => this.render());
  }

  /** The text's last boundary: after a blank line outside a code fence (complete lines only). */
  boundary() {
    let found = this.kept;
    let end;
    while ((end = this.text.indexOf("\n", this.scanned)) !== -1) {
      const line = this.text.slice(this.scanned, end);
      this.scanned = end + 1;
      const fence = line.match(FENCE);
      if (this.fence) {
        if (fence && fence[1][0] === this.fence[0] && fence[1].length >= this.fence.length &&
            !line.slice(fence[0].length).trim()) this.fence = null;
      } else if (fence) {
        this.fence = fence[1];
      } else if (!line.trim()) {
        found = this.scanned;
      }
    }
    return found;
  }

  render() {
    this.frame = 0;
    const cut = this.boundary();
    if (cut > this.kept) {
      this.live.replaceChildren(renderMarkdown(this.text.slice(this.kept, cut)));
      this.kept = cut;
      this.live = this.part();
    }
    this.live.replaceChildren(renderMarkdown(this.text.slice(this.kept)));
    this.onRender();
  }

  /** The whole text rendered at once (list numbering and links across parts come out right). */
  finish() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.element.replaceChildren(renderMarkdown(this.text));
    this.onRender();
  }
}
