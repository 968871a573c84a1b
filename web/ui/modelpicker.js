/* Settings → Model: the known models, the models kept in Cache Storage (with delete buttons),
 * and the errors of a failed load, shown beside the field that caused it. */

import { mb } from "./progress.js";

const $ = (id) => document.getElementById(id);

/* Where a load came from, so its error is shown there: "url", "file", "folder", "default", or
   "known:<id>". */
function errorElement(field) {
  if (field === "url") return $("model-url-error");
  if (field === "file") return $("model-file-error");
  if (field === "folder") return $("model-folder-error");
  if (field === "default") return $("default-error") || $("model-url-error");
  return document.querySelector(`#known-models li[data-id="${CSS.escape(field.slice(6))}"] .field-error`);
}

export function showFieldError(field, message) {
  clearFieldErrors();
  const element = errorElement(field);
  if (!element) return;
  element.textContent = message;
  element.setAttribute("role", "alert");
  element.hidden = false;
}

export function clearFieldErrors() {
  for (const element of document.querySelectorAll(".settings .field-error")) {
    element.hidden = true;
    element.textContent = "";
    element.removeAttribute("role");
  }
}

const item = (title, detail) => {
  const li = document.createElement("li");
  const text = document.createElement("span");
  text.className = "model-text";
  const name = document.createElement("span");
  name.className = "model-title";
  name.textContent = title;
  name.title = title;
  const small = document.createElement("span");
  small.className = "model-detail";
  small.textContent = detail;
  text.append(name, small);
  li.append(text);
  return li;
};

const action = (text, label, onClick) => {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
};

/** The catalogue (web/models.js: [{id, label, size, memory, chat, note, url}]); url: where it
 * can be loaded from here, or null; use(model) loads one; current: the loaded one's id. */
export function renderKnown(models, current, use) {
  $("known-models").replaceChildren(...models.map((model) => {
    const details = [`${mb(model.size)} MB download`];
    if (model.memory) details.push(`~${mb(model.memory)} MB memory`);
    details.push(model.chat ? "chat" : "base model: plain completion");
    const li = item(model.label, details.join(" · "));
    li.dataset.id = model.id;
    li.title = model.url ? model.note : `${model.note} Not on this site: load it by URL or from a file.`;
    if (model.id === current) li.setAttribute("aria-current", "true");
    const use_ = action("Use", `Use ${model.label}`, () => use(model));
    use_.disabled = !model.url || model.id === current;
    const error = document.createElement("p");
    error.className = "field-error";
    error.hidden = true;
    li.append(use_, error);
    return li;
  }));
}

/** The models in Cache Storage ([{url, file, bytes, size, complete}]); remove(entry) deletes
 * one, removeAll() all of them. */
export function renderCached(entries, remove, removeAll) {
  const list = $("cached-models");
  if (!entries.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = "None yet: a model is kept here after its first download.";
    list.replaceChildren(li);
  } else {
    list.replaceChildren(...entries.map((entry) => {
      const li = item(entry.file, entry.complete ? `${mb(entry.bytes)} MB` : `${mb(entry.bytes)} of ${mb(entry.size)} MB (partial)`);
      li.dataset.url = entry.url;
      li.title = entry.url;
      li.append(action("Delete", `Delete ${entry.file}`, () => remove(entry)));
      return li;
    }));
  }
  const all = $("delete-all-models");
  all.hidden = entries.length < 1;
  all.onclick = removeAll;
}
