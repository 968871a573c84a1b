/* minfer-wasm chat page: UI state, model choice, and the conversation.
 * All inference happens in web/worker.js; the message protocol is documented at its top.
 * Model output is inserted as text (textContent / text nodes), never as HTML.
 */

const $ = (id) => document.getElementById(id);
const ui = {
  status: document.querySelector('[data-testid="status"]'),
  statusText: $("status-text"),
  modelName: $("model-name"),
  progressPanel: $("progress-panel"),
  errorBanner: $("error-banner"),
  errorTitle: $("error-title"),
  errorMessage: $("error-message"),
  log: $("log"),
  emptyHint: $("empty-hint"),
  composer: $("composer"),
  message: $("message"),
  send: $("send"),
  stop: $("stop"),
  newChat: $("new-chat"),
  stats: $("stats"),
  settings: $("settings"),
  settingsToggle: $("settings-toggle"),
  useDefault: $("use-default"),
  urlForm: $("url-form"),
  modelUrl: $("model-url"),
  modelFile: $("model-file"),
  systemPrompt: $("system-prompt"),
  kernels: $("kernels"),
  nCtx: $("n-ctx"),
  kernelPath: $("kernel-path"),
};

const KERNEL_LABELS = { "wasm-simd": "wasm SIMD kernels", numpy: "numpy kernels" };

const ERROR_TITLES = {
  SourceError: "Could not read the model",
  GGUFError: "Not a GGUF model",
  UnsupportedError: "Unsupported model",
  OutOfMemoryError: "Out of memory",
  ContextOverflowError: "Conversation too long",
  TemplateError: "Chat template failed",
  SamplingError: "Invalid setting",
};

let worker = null;
let nextId = 1;
let defaultModel = null;       // absolute URL of the model built into the site, or null
let modelLoaded = false;
let state = "loading";
let pendingLoad = null;        // id of the load in flight
let turn = null;               // the answer in flight: {id, body, article, started, first}
let loadedSource = null;       // the source of the model loaded (or loading), to reload it
let messages = [];             // the conversation, sent whole with each message

/* ---- status and errors ------------------------------------------------------------------ */

function setState(next, text) {
  state = next;
  ui.status.dataset.state = next;
  ui.statusText.textContent = text;
  const busy = next === "loading" || next === "generating";
  ui.send.disabled = !modelLoaded || busy;
  ui.stop.disabled = next !== "generating";
}

function showError(kind, message) {
  ui.errorTitle.textContent = `${ERROR_TITLES[kind] || kind}:`;
  ui.errorMessage.textContent = message;
  ui.errorBanner.hidden = false;
  setState("error", ERROR_TITLES[kind] || "Error");
}

function clearError() {
  ui.errorBanner.hidden = true;
}

/* ---- progress ---------------------------------------------------------------------------- */

function showProgress(stage, loaded, total, detail) {
  const bar = $(`progress-${stage}`);
  if (!bar) return;
  bar.max = total || 1;
  bar.value = Math.min(loaded, total || 1);
  let text = detail || "";
  if (stage === "download" && total > 1) text = `${mb(loaded)} / ${mb(total)} MB${detail ? ` · ${detail}` : ""}`;
  else if (stage === "load" && total > 1) text = `${Math.round((100 * loaded) / total)}%${detail ? ` · ${detail}` : ""}`;
  $(`progress-${stage}-detail`).textContent = text;
}

const mb = (bytes) => (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0);

function resetModelProgress() {
  for (const stage of ["download", "load"]) showProgress(stage, 0, 1, "");
  ui.progressPanel.hidden = false;
}

/* ---- the worker -------------------------------------------------------------------------- */

function startWorker() {
  worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (event) => onWorkerMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    restartWorker("InternalError", `the worker failed: ${event.message || "unknown error"}`);
  };
}

function restartWorker(kind, message) {
  worker.terminate();
  modelLoaded = false;
  pendingLoad = null;
  finishTurn(null);
  showError(kind, `${message} The runtime restarts; load a model again.`);
  ui.modelName.textContent = "No model loaded";
  startWorker();
}

function request(type, fields = {}) {
  const id = nextId++;
  worker.postMessage({ type, id, ...fields });
  return id;
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case "progress":
      if (msg.id !== null && msg.id !== pendingLoad) break;
      showProgress(msg.stage, msg.loaded, msg.total, msg.detail);
      if (state === "loading") setState("loading", msg.id === null ? msg.detail : stageText(msg.stage));
      break;
    case "ready":
      if (msg.id !== pendingLoad) break;
      pendingLoad = null;
      modelLoaded = true;
      ui.progressPanel.hidden = true;
      ui.modelName.textContent = describeModel(msg.model);
      ui.modelName.title = msg.model.name;
      showKernelPath(msg.model);
      clearError();
      setState("ready", "Ready");
      ui.message.focus();
      break;
    case "token":
      if (turn && msg.id === turn.id) appendToken(msg.text);
      break;
    case "done":
      if (turn && msg.id === turn.id) finishTurn(msg);
      break;
    case "error":
      if (msg.fatal) return restartWorker(msg.kind, msg.message);
      if (msg.id === pendingLoad) {
        pendingLoad = null;
        modelLoaded = false;
        ui.modelName.textContent = "No model loaded";
      }
      if (turn && msg.id === turn.id) finishTurn(null, msg.message);
      if (!modelLoaded) ui.progressPanel.hidden = true;
      showError(msg.kind, msg.message);
      break;
  }
}

const stageText = (stage) => ({ runtime: "Starting Python…", download: "Downloading the model…", load: "Loading the model…" })[stage];

function describeModel(model) {
  const parts = [model.name, model.arch, `${mb(model.size)} MB file`, `${mb(model.heap_bytes)} MB in memory`];
  if (model.from_cache) parts.push("cached");
  return parts.join(" · ");
}

/* The path the matrix products run on, as the worker reports it (and why, when not the one asked). */
function showKernelPath(model) {
  ui.kernelPath.dataset.path = model.kernels;
  ui.kernelPath.textContent = KERNEL_LABELS[model.kernels] || model.kernels;
  ui.kernelPath.title = model.kernels_note || "";
  ui.kernelPath.hidden = false;
}

/* ---- model choice ------------------------------------------------------------------------ */

function loadModel(source, label) {
  if (turn) finishTurn(null);
  loadedSource = { source, label };
  ui.kernelPath.hidden = true;
  modelLoaded = false;
  clearError();
  clearLog();
  resetModelProgress();
  ui.modelName.textContent = `Loading ${label}…`;
  setState("loading", "Loading the model…");
  pendingLoad = request("load", { source, n_ctx: contextLength(), kernels: ui.kernels.value });
}

function loadUrl(text) {
  let url;
  try {
    url = new URL(text, document.baseURI);
  } catch {
    return showError("SourceError", `"${text}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return showError("SourceError", `${url.href}: only http(s) URLs can be loaded; open local files with the file picker`);
  }
  loadModel({ url: url.href }, url.pathname.split("/").pop() || url.href);
}

ui.urlForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (ui.modelUrl.value.trim()) loadUrl(ui.modelUrl.value.trim());
});

ui.modelFile.addEventListener("change", () => {
  const file = ui.modelFile.files[0];
  if (file) loadModel({ file }, file.name);
  ui.modelFile.value = "";
});

/* The context length setting, within its input's bounds (2048 when it is not a number). */
function contextLength() {
  const value = parseInt(ui.nCtx.value, 10);
  if (!Number.isFinite(value)) return 2048;
  return Math.min(Number(ui.nCtx.max), Math.max(Number(ui.nCtx.min), value));
}

const reload = () => loadedSource && loadModel(loadedSource.source, loadedSource.label);
ui.kernels.addEventListener("change", reload);
ui.nCtx.addEventListener("change", reload);

ui.useDefault.addEventListener("click", () => defaultModel && loadModel({ url: defaultModel }, "the built-in model"));

/* ---- conversation ------------------------------------------------------------------------ */

function clearLog() {
  ui.log.replaceChildren(ui.emptyHint);
  ui.stats.textContent = "";
  const system = ui.systemPrompt.value.trim();
  messages = system ? [{ role: "system", content: system }] : [];
}

function addMessage(role, text) {
  ui.emptyHint.remove();
  const article = document.createElement("article");
  article.className = `msg msg-${role}`;
  const body = document.createElement("div");
  body.className = "msg-body";
  body.dataset.role = role;
  body.textContent = text;
  article.append(body);
  ui.log.append(article);
  article.scrollIntoView({ block: "end" });
  return { article, body };
}

function number(id, parse = Number) {
  const value = parse($(id).value);
  return Number.isFinite(value) ? value : undefined;
}

function samplingParams() {
  const params = {
    temperature: number("temperature"),
    top_k: number("top-k", (v) => parseInt(v, 10)),
    top_p: number("top-p"),
    min_p: number("min-p"),
    repeat_penalty: number("repeat-penalty"),
  };
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

function send() {
  const text = ui.message.value;
  if (!text.trim() || ui.send.disabled) return;
  clearError();
  ui.message.value = "";
  autoGrow();
  addMessage("user", text);
  const { article, body } = addMessage("assistant", "");
  article.classList.add("pending");
  const seed = number("seed", (v) => (v.trim() === "" ? NaN : parseInt(v, 10)));
  messages.push({ role: "user", content: text });
  const id = request("chat", {
    messages,
    options: { ...samplingParams(), max_tokens: number("max-tokens", (v) => parseInt(v, 10)) || 256,
               seed: seed === undefined ? null : seed },
  });
  turn = { id, article, body, started: performance.now(), first: null, text: null, answer: "" };
  ui.stats.textContent = "";
  setState("generating", "Generating…");
}

function appendToken(text) {
  if (turn.first === null) {
    turn.first = performance.now();
    turn.article.classList.remove("pending");
  }
  turn.text ??= turn.body.appendChild(document.createTextNode(""));
  turn.text.appendData(text);   // one text node per answer: model text is never parsed as HTML
  turn.answer += text;
  turn.article.scrollIntoView({ block: "end" });
}

function finishTurn(done, errorText) {
  if (!turn) return;
  const { article } = turn;
  article.classList.remove("pending");
  const meta = document.createElement("p");
  meta.className = "msg-meta";
  if (done) {
    const t = done.timings;
    article.dataset.stopReason = done.stop_reason;
    article.dataset.promptTokensEvaluated = done.prompt_tokens_evaluated;
    const parts = [`${t.decode_tps.toFixed(1)} tok/s`, `first token ${t.ttft_s.toFixed(2)} s`];
    if (done.stop_reason === "interrupted") parts.push("stopped");
    if (done.stop_reason === "length") parts.push("max tokens reached");
    meta.textContent = parts.join(" · ");
    ui.stats.textContent = `Prompt: ${done.prompt_tokens_evaluated} new tokens at ${t.prompt_tps.toFixed(0)} tok/s`;
    messages.push({ role: "assistant", content: turn.answer });
  } else {
    messages.pop();           // the user's message, unanswered
    article.dataset.stopReason = "error";
    meta.textContent = errorText ? `Failed: ${errorText}` : "Cancelled";
  }
  article.append(meta);
  turn = null;
  if (state === "generating") setState("ready", "Ready");
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

function autoGrow() {
  ui.message.style.height = "auto";
  ui.message.style.height = `${Math.min(ui.message.scrollHeight, 200)}px`;
}
ui.message.addEventListener("input", autoGrow);

ui.stop.addEventListener("click", () => {
  if (turn) worker.postMessage({ type: "stop", id: turn.id });
});

ui.newChat.addEventListener("click", () => {
  if (turn) finishTurn(null);
  clearLog();
  clearError();
  if (modelLoaded) setState("ready", "Ready");
  ui.message.focus();
});

ui.settingsToggle.addEventListener("click", () => {
  const open = ui.settings.classList.toggle("open");
  ui.settingsToggle.setAttribute("aria-expanded", String(open));
});

/* ---- start ------------------------------------------------------------------------------- */

async function main() {
  if ("serviceWorker" in navigator) {
    // sw.js sits at the site root (a built site); offline use is a bonus, never a requirement.
    navigator.serviceWorker.register("sw.js").catch((e) => console.info("no service worker:", e.message));
  }
  startWorker();
  try {
    const site = await (await fetch("site.json")).json();
    if (site.model) defaultModel = new URL(site.model, document.baseURI).href;
  } catch {
    defaultModel = null;
  }
  ui.useDefault.hidden = !defaultModel;
  const query = new URLSearchParams(location.search);
  if (query.get("kernels") === "numpy") ui.kernels.value = "numpy";
  const asked = query.get("model");
  if (asked) {
    ui.modelUrl.value = asked;
    loadUrl(asked);
  } else if (defaultModel) {
    loadModel({ url: defaultModel }, "the built-in model");
  } else {
    showError("SourceError", "this site has no built-in model: enter a model URL or open a local .gguf file in Settings");
  }
}

main();
