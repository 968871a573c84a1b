/* minfer-wasm chat page: wires the UI modules (web/ui/) to the engine API (web/minfer.js).
 *
 * The conversation is chat.messages, kept in IndexedDB; every answer feeds the whole of it to
 * engine.chat (the engine reuses the KV cache for the prefix it has already seen), so a chat
 * reopened after a reload, an edited question or a regenerated answer all go the same way.
 */

import Minfer from "./minfer.js";
import { ChatList, wireExportImport } from "./ui/chatlist.js";
import { ConversationView } from "./ui/conversation.js";
import { closeDrawers, openSettings, wireDrawers } from "./ui/drawers.js";
import { clearFieldErrors, renderCached, renderKnown, showFieldError } from "./ui/modelpicker.js";
import { ProgressPanel, mb } from "./ui/progress.js";
import { Settings, describeDefaults } from "./ui/settings.js";
import * as store from "./ui/store.js";
import { Status } from "./ui/status.js";

const $ = (id) => document.getElementById(id);
const KERNEL_LABELS = { "wasm-simd": "wasm SIMD kernels", numpy: "numpy kernels" };

const settings = new Settings();
const status = new Status();
const progress = new ProgressPanel();

let engine = new Minfer.Engine();   // its worker starts Python at once; engine.info: the model or null
let modelKey = null;        // what identifies the loaded model (catalogue id, URL or file)
let loadedFrom = null;      // the load options of the model loaded, to load it again
let loading = null;         // {controller} of the load in flight
let answering = null;       // {stopped} while an answer is written
let chat = store.newChat(); // the chat shown
let defaultModel = null;    // the site's built-in model URL, or null
let cached = [];            // the models in Cache Storage

const view = new ConversationView({ log: $("log"), emptyHint: $("empty-hint"), jump: $("jump-latest") }, {
  regenerate: () => regenerate(),
  edit: (index, text) => send(text, index),
  starter: (text) => {
    $("message").value = text;
    send();
  },
});

const chatList = new ChatList($("chat-list"), {
  open: (id) => openChat(id),
  rename: async (id, title) => {
    const chats = await store.listChats();
    const target = chats.find((c) => c.id === id);
    if (target && title) {
      target.title = title;
      await store.saveChat(target);
      if (chat.id === id) chat.title = title;
    }
    refreshChatList();
  },
  remove: async (id) => {
    await store.deleteChat(id);
    if (chat.id === id) startNewChat();
    refreshChatList();
  },
});

/* ---- state ------------------------------------------------------------------------------- */

function updateControls() {
  const busy = Boolean(loading) || Boolean(answering);
  $("send").disabled = !hasModel() || busy;
  $("stop").disabled = !answering;
  view.setBusy(busy);
}

function setState(state, text) {
  status.set(state, text);
  updateControls();
}

/* ---- chats ------------------------------------------------------------------------------- */

async function refreshChatList() {
  chatList.render(await store.listChats().catch(() => []), chat.id);
}

async function saveChat() {
  chat.updated = Date.now();
  try {
    if (chat.messages.length) await store.saveChat(chat);
    else await store.deleteChat(chat.id);         // a chat whose only message was refused
    settings.set("lastChat", chat.id);
    await refreshChatList();
  } catch (error) {         // no IndexedDB (a private window, say): the chat lives in the page only
    console.warn("the chat could not be kept:", error.message);
  }
}

const hasModel = () => Boolean(engine.info);

function completionMode() {
  return hasModel() && engine.info.has_chat_template === false;
}

function showChat(next) {
  chat = next;
  view.show(chat.messages, { completion: completionMode() });
  $("stats").textContent = "";
  settings.set("lastChat", chat.id);
  refreshChatList();
}

async function stopAnswer() {
  if (!answering) return;
  engine.stop();
  await answering.done;
}

async function startNewChat() {
  await stopAnswer();
  status.clearError();
  showChat(store.newChat());
  if (hasModel()) setState("ready", "Ready");
  closeDrawers();
  $("message").focus();
}

async function openChat(id) {
  await stopAnswer();
  const found = (await store.listChats()).find((c) => c.id === id);
  if (found) showChat(found);
  closeDrawers();
}

/* ---- answers ----------------------------------------------------------------------------- */

/** The messages the engine sees: the system prompt (when set), then the chat. */
function engineMessages() {
  const system = settings.systemPrompt();
  const messages = chat.messages.map(({ role, content }) => ({ role, content }));
  return system ? [{ role: "system", content: system }, ...messages] : messages;
}

/** Write the answer to chat.messages as they stand. `rejected(error)` runs when the engine
 * refuses the request before any text (a too-long message, an invalid setting). */
async function answer(rejected) {
  const index = chat.messages.length;
  const out = view.addAnswer(index, completionMode());
  const options = settings.options();
  let text = "";
  let pieces = 0;
  let first = null;
  let result = {};
  let finish;
  answering = { done: new Promise((resolve) => (finish = resolve)) };
  setState("generating", "Generating…");
  $("stats").textContent = "";
  try {
    const stream = completionMode()
      ? engine.complete(chat.messages.map((m) => m.content).join(""), options)
      : engine.chat(engineMessages(), $("thinking").checked ? options : { ...options, enable_thinking: false });
    for await (const chunk of stream) {
      if (chunk.done) {
        result = chunk;
        break;
      }
      text += chunk.text;
      pieces += 1;
      first ??= performance.now();
      out.set(text);
      const seconds = (performance.now() - first) / 1000;
      if (seconds > 0.2) out.stats(`${((pieces - 1) / seconds).toFixed(1)} tok/s…`);
    }
    const meta = answerMeta(result);
    out.finish(text, meta);
    chat.messages.push({ role: "assistant", content: text, meta });
    const t = result.timings;
    if (t) $("stats").textContent = `Prompt: ${result.prompt_tokens_evaluated} new tokens at ${t.prompt_tps.toFixed(0)} tok/s`;
    setState("ready", "Ready");
  } catch (error) {
    if (!text) {
      view.truncate(index);
      rejected(error);
    } else {
      const meta = { stop_reason: "error", stats: `Failed: ${error.message}` };
      out.finish(text, meta);
      chat.messages.push({ role: "assistant", content: text, meta });
    }
    status.showError(error.kind, error.message);
    if (error.fatal) {          // the worker is gone: a new one, with the model loaded again
      engine = new Minfer.Engine();
      setTimeout(reloadModel);
    }
  } finally {
    answering = null;
    finish();
    updateControls();
    await saveChat();
  }
}

/** What an answer keeps besides its text: stop reason, prompt positions computed, stats line. */
function answerMeta(result) {
  const meta = { stop_reason: result.stop_reason, prompt_tokens_evaluated: result.prompt_tokens_evaluated };
  const t = result.timings;
  const parts = t ? [`${t.decode_tps.toFixed(1)} tok/s`, `first token ${t.ttft_s.toFixed(2)} s`] : [];
  if (meta.stop_reason === "interrupted") parts.push("stopped");
  if (meta.stop_reason === "length") parts.push("max tokens reached");
  meta.stats = parts.join(" · ");
  return meta;
}

/** Send the text in the message box, or `edited` (an edited question, which replaces the chat
 * from `index` on). A message the engine refuses goes back into the box. */
function send(edited = null, index = chat.messages.length) {
  const box = $("message");
  const text = edited ?? box.value;
  if (!text.trim() || !hasModel() || answering || loading) return;
  status.clearError();
  if (edited === null) {
    box.value = "";
    autoGrow();
  }
  chat.messages.splice(index);
  view.truncate(index);
  if (!index) chat.title = store.titleFrom(text);
  chat.messages.push({ role: "user", content: text });
  view.addUser(text, index);
  box.focus();
  saveChat();
  answer(() => {
    chat.messages.splice(index);
    view.truncate(index);
    if (!box.value.trim()) box.value = text;
    autoGrow();
    box.focus();
  });
}

async function regenerate() {
  if (answering || !hasModel()) return;
  const last = chat.messages.length - 1;
  if (last < 0 || chat.messages[last].role !== "assistant") return;
  chat.messages.splice(last);
  view.truncate(last);
  status.clearError();
  await answer(() => {});
}

/* ---- model ------------------------------------------------------------------------------- */

/** Load `model` (a URL or a File) into the engine; `field` names where the request came from
 * ("url", "file", "default", "known:<id>"), for its error. A failed load keeps the model
 * loaded before, and the chat; when the engine had to drop it to try (both would not fit in
 * memory), it is loaded again. Resolves to whether this load succeeded. */
async function loadModel(model, { label, field, quantize, keepErrors = false }) {
  loading?.controller.abort();
  await stopAnswer();
  const mine = { controller: new AbortController() };
  loading = mine;
  if (!keepErrors) clearFieldErrors();
  progress.start(label);
  setState("loading", "Loading the model…");
  $("model-name").textContent = `Loading ${label}…`;
  let retry = null;
  try {
    await engine.load({
      model,
      signal: mine.controller.signal,
      nCtx: settings.contextLength(),
      kernels: $("kernels").value,
      ...(quantize ? { quantize } : {}),
      onProgress: (p) => loading === mine && progress.show(p),
    });
    if (loading !== mine) return false;
    loadedFrom = { model, label, field, quantize };
    modelReady(model);
    return true;
  } catch (error) {
    if (loading !== mine) return false;     // a newer load took over
    if (error.fatal) engine = new Minfer.Engine();
    const cancelled = error.kind === "AbortError";
    if (!cancelled) showFieldError(field, `${status.title(error.kind)}: ${error.message}`);
    if (hasModel()) {
      showModel();
      setState("ready", cancelled ? "Load cancelled" : "Ready");
      if (!cancelled) openSettings();
    } else if (error.unloaded && loadedFrom) {
      retry = loadedFrom;
    } else {
      $("model-name").textContent = "No model loaded";
      $("kernel-path").hidden = true;
      status.showError(error.kind, cancelled ? "the load was cancelled: choose a model in Settings" : error.message);
      openSettings();
    }
  } finally {
    if (loading === mine) {
      loading = null;
      progress.hide();
      updateControls();
      refreshCached();
    }
  }
  if (retry) loadModel(retry.model, { ...retry, keepErrors: true });
  return false;
}

function modelReady(model) {
  const info = engine.info;
  modelKey = info.known?.id ?? (typeof model === "string" ? model : `file:${model.name}`);
  settings.modelLoaded(info.sampling_defaults, modelKey);
  settings.set("model", typeof model === "string" ? { url: model, label: info.label } : null);
  showModel();
  status.clearError();
  view.show(chat.messages, { completion: completionMode() });
  setState("ready", "Ready");
  $("message").focus();
}

/** The header, kernel badge, template note and defaults hint for the loaded model. */
function showModel() {
  const info = engine.info;
  $("model-name").textContent = [info.label, info.arch, `${mb(info.size)} MB`].filter(Boolean).join(" · ");
  $("model-name").title = info.name;
  const badge = $("kernel-path");
  badge.dataset.path = info.kernels;
  badge.textContent = KERNEL_LABELS[info.kernels] || info.kernels;
  badge.title = info.kernels_note || "";
  badge.hidden = false;
  const base = info.has_chat_template === false;
  $("completion-note").hidden = !base;
  const note = $("template-note");
  note.hidden = false;
  note.classList.toggle("base", base);
  note.textContent = base ? `${info.label} has no chat template: the page continues your text instead of chatting.`
                          : `${info.label} has a chat template.`;
  $("sampling-source").textContent = describeDefaults(info.sampling_defaults, info.sampling_source);
  showKnown();
}

/** The catalogue, each with the URL it can be loaded from here (the site's or a kept copy). */
function showKnown() {
  const urlOf = (m) => (defaultModel?.endsWith(`/${m.file}`) ? defaultModel
    : cached.find((c) => c.complete && c.file === m.file)?.url ?? null);
  renderKnown(Minfer.KNOWN_MODELS.map((m) => ({ ...m, url: urlOf(m) })), hasModel() ? modelKey : null,
              (m) => loadModel(m.url, { label: m.label, field: `known:${m.id}` }));
}

function loadUrl(text, field = "url", keepErrors = false) {
  let label = text;
  try {
    const file = new URL(text, document.baseURI).pathname.split("/").pop();
    label = Minfer.findKnownModel({ file })?.label || file || text;
  } catch {
    // not a URL: engine.load says so, beside the field
  }
  loadModel(text, { label, field, keepErrors });
}

async function refreshCached() {
  try {
    cached = await Minfer.listCachedModels();
  } catch (error) {
    cached = [];
    console.info("no model cache:", error.message);
  }
  renderCached(cached, async (entry) => {
    await Minfer.deleteCachedModel(entry.url);
    refreshCached();
  }, async () => {
    await Minfer.deleteAllCachedModels();
    refreshCached();
  });
  showKnown();
}

function reloadModel() {
  if (loadedFrom) loadModel(loadedFrom.model, loadedFrom);
}

/* ---- events ------------------------------------------------------------------------------ */

function autoGrow() {
  const box = $("message");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
}

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("message").addEventListener("input", autoGrow);
  $("stop").addEventListener("click", () => {
    if (answering) engine.stop();
    $("message").focus();
  });
  $("new-chat").addEventListener("click", startNewChat);
  $("url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("model-url").value.trim();
    if (text) loadUrl(text);
  });
  $("model-file").addEventListener("change", () => {
    const file = $("model-file").files[0];
    if (file) loadModel(file, { label: file.name, field: "file" });
    $("model-file").value = "";
  });
  $("model-folder").addEventListener("change", () => {
    const files = Array.from($("model-folder").files);
    const folder = files[0]?.webkitRelativePath?.split("/")[0] || "checkpoint";
    if (files.length) loadModel(files, { label: folder, field: "folder", quantize: $("quantize").value });
    $("model-folder").value = "";
  });
  $("use-default").addEventListener("click", () => defaultModel && loadUrl(defaultModel, "default"));
  $("cancel-load").addEventListener("click", () => loading?.controller.abort());
  $("kernels").addEventListener("change", reloadModel);
  $("n-ctx").addEventListener("change", reloadModel);
  $("reset-sampling").addEventListener("click", () => hasModel() && settings.applyDefaults(engine.info.sampling_defaults, modelKey));
  wireDrawers();
  wireExportImport(refreshChatList);
}

/* ---- start ------------------------------------------------------------------------------- */

async function main() {
  if ("serviceWorker" in navigator) {
    // sw.js sits at the site root (a built site); offline use is a bonus, never a requirement.
    navigator.serviceWorker.register("sw.js").catch((e) => console.info("no service worker:", e.message));
  }
  wire();
  const chats = await store.listChats().catch(() => []);
  showChat(chats.find((c) => c.id === settings.get("lastChat")) || store.newChat());
  defaultModel = (await Minfer.siteModel())?.url ?? null;
  await refreshCached();
  // the built-in model has its own button unless the catalogue lists it
  $("use-default").hidden = !defaultModel || Boolean(Minfer.findKnownModel({ file: defaultModel.split("/").pop() }));
  const query = new URLSearchParams(location.search);
  if (query.get("kernels") === "numpy") $("kernels").value = "numpy";
  const asked = query.get("model");
  const saved = settings.get("model");
  if (asked) {
    $("model-url").value = asked;
    loadUrl(asked);
  } else if (saved?.url) {
    // the model of the last visit; when it is gone (a rebuilt site, say), the built-in one
    $("model-url").value = saved.url;
    const loaded = await loadModel(saved.url, { label: saved.label, field: "url" });
    if (!loaded && !hasModel() && !loading && defaultModel && defaultModel !== saved.url) {
      loadUrl(defaultModel, "default", true);
    }
  } else if (defaultModel) {
    loadUrl(defaultModel, "default");
  } else {
    status.showError("SourceError", "this site has no built-in model: enter a model URL or open a local .gguf file in Settings");
  }
}

main();
