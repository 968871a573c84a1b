/* The sidebar's list of kept chats: open, rename (in place), delete, and export / import as
 * JSON. Each item's main button is named after its chat; the current chat's has aria-current. */

import * as store from "./store.js";

const $ = (id) => document.getElementById(id);

export class ChatList {
  /** handlers: {open(id), rename(id, title), remove(id)} */
  constructor(list, handlers) {
    this.list = list;
    this.handlers = handlers;
    list.addEventListener("click", (event) => {
      const target = event.target.closest("button");
      if (!target) return;
      const id = target.closest("li").dataset.id;
      if (target.dataset.action === "open") handlers.open(id);
      else if (target.dataset.action === "rename") this.rename(target.closest("li"));
      else if (target.dataset.action === "delete") handlers.remove(id);
    });
  }

  /** chats: [{id, title}], newest first; current: the id shown. */
  render(chats, current) {
    this.list.replaceChildren(...chats.map((chat) => {
      const item = document.createElement("li");
      item.dataset.id = chat.id;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "chat-open";
      open.dataset.action = "open";
      open.textContent = chat.title;
      open.title = chat.title;
      if (chat.id === current) open.setAttribute("aria-current", "true");
      item.append(open, this.small("✎", "rename", "Rename chat"), this.small("×", "delete", "Delete chat"));
      return item;
    }));
  }

  small(text, action, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "ghost chat-tool";
    b.dataset.action = action;
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.title = label;
    return b;
  }

  rename(item) {
    const open = item.querySelector(".chat-open");
    const input = document.createElement("input");
    input.value = open.textContent;
    input.setAttribute("aria-label", "Chat name");
    item.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      this.handlers.rename(item.dataset.id, save && title ? title : null);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }
}

/** Export writes every chat to a .json download; Import adds the chats of such a file (with new
 * ids), then calls imported(). */
export function wireExportImport(imported) {
  $("export-chats").addEventListener("click", async () => {
    const blob = new Blob([store.exportJson(await store.listChats())], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `minfer-chats-${new Date().toISOString().slice(0, 10)}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
  $("import-chats").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", async () => {
    const file = $("import-file").files[0];
    $("import-file").value = "";
    const error = $("import-error");
    error.hidden = true;
    if (!file) return;
    try {
      for (const chat of store.parseExport(await file.text())) await store.saveChat(chat);
      imported();
    } catch (e) {
      error.textContent = `${file.name}: ${e.message}`;
      error.hidden = false;
    }
  });
}
