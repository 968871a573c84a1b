/* minfer.js: run a GGUF language model (or a Hugging Face checkpoint) in the page, with an
 * OpenAI-style API.
 *
 * The engine (Python on numpy, in Pyodide) runs in a Web Worker (worker.js, next to this file);
 * nothing leaves the device. Import this module from the site's web/ folder; it needs the
 * site's pyodide/ and kernels/ folders beside web/ (as `minfer-wasm build-site` lays them out),
 * and a page served over http(s) from the same origin.
 *
 *   import Minfer from "./web/minfer.js";
 *
 *   const engine = await Minfer.load({
 *     model,            // URL string (absolute, or relative to the page) or a File/Blob; default:
 *                       // the site's built-in model (Minfer.siteModel()). Or a Hugging Face
 *                       // checkpoint: a FileList or array of Files (a multi-file input or a folder
 *                       // picker: config.json, tokenizer.json, tokenizer_config.json,
 *                       // chat_template.jinja?, model.safetensors or model.safetensors.index.json
 *                       // and its shards; other files and sub-folders are ignored; a list of
 *                       // one .gguf File is that GGUF), or a base URL ending in "/" under which
 *                       // those files are served (a file answered 404 is absent)
 *     quantize,         // a checkpoint's weights are quantized to this as they load: "q8_0" (the
 *                       // default), "q4_0", "q4_1", "q4_k", "f16", or "none" (keep their float
 *                       // type); ignored for a GGUF, which keeps its types
 *     onProgress,       // ({stage, loaded, total, detail, bytesPerSecond, secondsLeft}) => void
 *                       // stage: "runtime" (Python starting; a load first gets how far
 *                       // it is), "download" (bytesPerSecond, secondsLeft), "load"
 *     signal,           // an AbortSignal: aborting it cancels the load
 *     nCtx,             // context length in tokens (default 2048; at most the model's own)
 *     kernels,          // "wasm" (compiled wasm SIMD matrix kernels, the default) or "numpy"
 *     stallTimeout,     // seconds without a byte from the server before the load fails (30)
 *     workerUrl,        // where worker.js is (default: next to this module)
 *   });
 *
 *   Or: const engine = new Minfer.Engine(workerUrl?)  (the worker starts Python at once, with
 *   no model: engine.info is null) and then await engine.load({model, ...}).
 *
 *   engine.info = {name, label, arch, n_ctx, n_vocab, n_layer, size, kernels, kernels_note,
 *                  has_chat_template, chat_template, sampling_defaults, sampling_source,
 *                  known, source, basename, size_label, from_cache, heap_bytes, startup,
 *                  quantize}
 *     label: the catalogue's friendly name (web/models.js) or the GGUF's general.name;
 *     known: the catalogue entry or null; source: the URL or file name loaded (a checkpoint's
 *     folder name or base URL); size: the bytes read (a checkpoint's: all its files);
 *     quantize: a checkpoint's weight type as loaded (absent for a GGUF); heap_bytes: the
 *     worker's wasm heap once loaded; startup: seconds at which each startup step ended;
 *     sampling_defaults: {temperature, top_k, top_p, min_p, repeat_penalty} from the GGUF's
 *     general.sampling.* keys where present, else the catalogue's preset for the model, else
 *     the engine's defaults; sampling_source: "gguf" | "preset" | "engine" (the first that
 *     gave any value); has_chat_template false: a base model, use complete() rather than chat().
 *
 *   for await (const chunk of engine.chat(messages, options)) out += chunk.text;
 *     messages: the WHOLE conversation [{role: "system" | "user" | "assistant", content}], last
 *     one the user's. Send the conversation again each turn (edited, regenerated or reloaded):
 *     the engine keeps the longest token prefix it has already computed, so only what changed
 *     is evaluated (result.prompt_tokens_evaluated says how much).
 *   for await (const chunk of engine.complete(prompt, options)) ...   plain text continuation
 *     options: temperature, top_p, top_k, min_p, repeat_penalty, frequency_penalty,
 *     presence_penalty, max_tokens (default 256), stop (string or strings), seed (any integer),
 *     profile (time the matrix products), signal (an AbortSignal that stops the answer);
 *     chat only (a RequestError in complete): enable_thinking (true or false, given to the chat
 *     template: Qwen3's switch; false pre-fills an empty think block, so the model answers at
 *     once; absent or null: the template's default, thinking on for Qwen3).
 *     An unknown option is an error (kind "RequestError"), not silently ignored.
 *   Chunks: {text, done: false} for each piece of the answer (whole characters, plain text),
 *     then one final {text: "", done: true, ...result}. The result is also engine.lastResult:
 *     {text (the whole answer), stop_reason: "eog" | "stop" | "length" | "interrupted",
 *      prompt_tokens_evaluated, positions_evaluated, n_ctx_used, timings: {prompt_tokens,
 *      prompt_s, prompt_tps, decode_tokens, decode_s, decode_tps, ttft_s}, profile,
 *      heap_bytes (the worker's wasm heap after the answer)}.
 *     Leaving the loop early (break) stops the answer, as engine.stop() does.
 *   Minfer.splitThinking(text) -> {thinking, reply, open}: a reasoning model's (partial) answer
 *     split into its <think> block (null when there is none; `open` while it still streams)
 *     and its reply, to show the reasoning collapsed (thinking.js, also importable alone).
 *   engine.stop()          end the running answer after the current token; its stream ends with
 *                          stop_reason "interrupted" and the text so far is the partial answer
 *   await engine.load({model, ...})   another model in the same worker (same options as
 *                          Minfer.load). A newer load aborts this one; if it fails, the model
 *                          loaded before stays usable (engine.info unchanged), except when
 *                          both could not be held in memory at once: then the error has
 *                          `unloaded` true and engine.info is null
 *   await engine.unload()  drop the model (the runtime stays for the next load)
 *   engine.terminate()     end the worker and free all of its memory; the engine is done
 *
 * Errors are MinferError objects: error.kind (also error.name) is the engine's error class:
 * SourceError (network, HTTP, Range, stalled server), GGUFError (not a GGUF file),
 * CheckpointError (a checkpoint's file missing or malformed: config.json, a Safetensors header,
 * tokenizer.json...), UnsupportedError, OutOfMemoryError, ContextOverflowError, TemplateError,
 * SamplingError, RequestError (a bad message or option), InternalError (a bug), or AbortError (the load was
 * cancelled by its signal or by a newer load). error.fatal: the worker died; Minfer.load again.
 * error.heap_bytes: the worker's wasm heap when it failed (when known).
 *
 * Models kept in Cache Storage (a URL model is stored as it downloads and read from there the
 * next time, also offline; a checkpoint's base URL: each of its files, under its own URL):
 *   await Minfer.listCachedModels()      [{url, file, bytes, size, complete}]
 *   await Minfer.deleteCachedModel(url)  bytes freed
 *   await Minfer.deleteAllCachedModels() bytes freed
 *   Minfer.KNOWN_MODELS, Minfer.findKnownModel(...), await Minfer.siteModel(): see models.js.
 */

import { KNOWN_MODELS, deleteAllCachedModels, deleteCachedModel, findKnownModel, listCachedModels,
         siteModel } from "./models.js";

import { splitThinking } from "./thinking.js";

export { KNOWN_MODELS, deleteAllCachedModels, deleteCachedModel, findKnownModel, listCachedModels, siteModel,
         splitThinking };

const DEFAULT_N_CTX = 2048;
const QUANTIZE = ["q8_0", "q4_0", "q4_1", "q4_k", "f16", "none"];   // the first is the default
const SAMPLING_FIELDS = ["temperature", "top_k", "top_p", "min_p", "repeat_penalty"];

/* An engine error: kind is the engine's error class name (see the header). */
export class MinferError extends Error {
  constructor(kind, message, { fatal = false, unloaded = false, heap_bytes } = {}) {
    super(message);
    this.name = kind;
    this.kind = kind;
    this.fatal = fatal;
    this.unloaded = unloaded;
    this.heap_bytes = heap_bytes;
  }
}

const fromReply = (msg) => new MinferError(msg.kind, msg.message,
                                           { fatal: msg.fatal, unloaded: msg.unloaded, heap_bytes: msg.heap_bytes });

/* Download speed and time left from the progress messages of one load. */
class Rate {
  constructor() { this.start = null; }
  annotate(p) {
    if (p.stage !== "download" || !(p.total > 0)) return p;
    const now = performance.now();
    if (this.start === null || p.loaded < this.start.loaded) this.start = { t: now, loaded: p.loaded };
    const seconds = (now - this.start.t) / 1000;
    const bytesPerSecond = seconds > 0.2 ? (p.loaded - this.start.loaded) / seconds : 0;
    const secondsLeft = bytesPerSecond > 0 ? (p.total - p.loaded) / bytesPerSecond : null;
    return { ...p, bytesPerSecond, secondsLeft };
  }
}

/* A checkpoint's picked files: the top-level ones (a folder picker's files carry their path
   below the picked folder in webkitRelativePath), each name once; named after the folder. */
function describeFiles(list) {
  const files = Array.from(list);
  if (!files.length || !files.every((f) => typeof Blob !== "undefined" && f instanceof Blob && f.name)) {
    throw new MinferError("RequestError", "model must be a URL string, a File, or a non-empty list of Files");
  }
  if (files.length === 1 && /\.gguf$/i.test(files[0].name)) return { source: { file: files[0] }, name: files[0].name };
  const depth = (f) => (f.webkitRelativePath ? f.webkitRelativePath.split("/").length - 1 : 0);
  const top = Math.min(...files.map(depth));
  const picked = files.filter((f) => depth(f) === top);
  const seen = new Set();
  for (const file of picked) {
    if (seen.has(file.name)) {
      throw new MinferError("RequestError", `two files are named ${file.name}: pick one checkpoint's files`);
    }
    seen.add(file.name);
  }
  const name = top > 0 ? picked[0].webkitRelativePath.split("/").slice(0, top).join("/") : "checkpoint";
  return { source: { files: picked, name }, name };
}

function describeSource(model) {
  if (typeof Blob !== "undefined" && model instanceof Blob) {
    return { source: { file: model }, name: model.name || "model.gguf" };
  }
  const isFileList = typeof FileList !== "undefined" && model instanceof FileList;
  if (Array.isArray(model) || isFileList) return describeFiles(model);
  if (typeof model !== "string" && !(model instanceof URL)) {
    throw new MinferError("RequestError", "model must be a URL string, a File, or a list of Files");
  }
  let url;
  try {
    url = new URL(model, globalThis.document ? document.baseURI : globalThis.location.href);
  } catch {
    throw new MinferError("SourceError", `"${model}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new MinferError("SourceError", `${url.href}: only http(s) URLs can be loaded; open local files as a File`);
  }
  if (url.pathname.endsWith("/")) return { source: { base: url.href }, name: url.href };
  return { source: { url: url.href }, name: url.href };
}

/* engine.info from the worker's `ready` model. */
function describeModel(model, name) {
  const known = findKnownModel({ file: name, basename: model.basename, size_label: model.size_label });
  const preset = known ? known.sampling : {};
  const gguf = model.sampling_gguf || {};
  const defaults = {};
  for (const field of SAMPLING_FIELDS) {
    defaults[field] = field in gguf ? gguf[field] : field in preset ? preset[field] : model.sampling_engine[field];
  }
  const source = Object.keys(gguf).length ? "gguf" : Object.keys(preset).length ? "preset" : "engine";
  const info = { ...model, label: known ? known.label : model.name, known, source: name,
                 sampling_defaults: defaults, sampling_source: source };
  delete info.sampling_gguf;
  delete info.sampling_engine;
  return info;
}

export class Engine {
  #worker;
  #workerUrl;
  #nextId = 1;
  #handlers = new Map();     // request id -> (reply message) => void
  #loading = null;           // {id, onProgress, rate} of the load in flight
  #answering = null;         // id of the chat/complete in flight
  #dead = null;              // the MinferError that ended the worker
  #runtime = null;           // the last runtime progress (Python starting), replayed to a new load

  /** The loaded model (see the header), or null. */
  info = null;
  /** The result of the last finished answer (see the header), or null. */
  lastResult = null;

  constructor(workerUrl = new URL("./worker.js", import.meta.url)) {
    this.#workerUrl = workerUrl;
    this.#worker = new Worker(workerUrl, { type: "module" });
    this.#worker.onmessage = (event) => this.#receive(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#die(new MinferError("InternalError", `the engine's worker failed: ${event.message || "unknown error"}`,
                                { fatal: true }));
    };
  }

  #die(error) {
    this.#dead = error;
    this.info = null;
    this.#worker.terminate();
    for (const handler of this.#handlers.values()) handler({ type: "error", kind: error.kind, message: error.message, fatal: true });
    this.#handlers.clear();
  }

  #receive(msg) {
    if (msg.type === "progress" && msg.id === null) {        // the runtime, for whichever load waits
      this.#runtime = msg;
      if (this.#loading) this.#handlers.get(this.#loading.id)?.(msg);
      return;
    }
    if (msg.type === "error" && msg.fatal) {
      this.#handlers.get(msg.id)?.(msg);
      this.#handlers.delete(msg.id);
      this.#die(fromReply(msg));
      return;
    }
    this.#handlers.get(msg.id)?.(msg);
  }

  #request(type, fields, handler) {
    if (this.#dead) throw this.#dead;
    const id = this.#nextId++;
    this.#handlers.set(id, handler);
    this.#worker.postMessage({ type, id, ...fields });
    return id;
  }

  /** Load a model into this engine (options as Minfer.load); resolves to engine.info. */
  async load(options = {}) {
    let model = options.model;
    if (model === undefined || model === null) {
      model = (await siteModel())?.url;
      if (!model) throw new MinferError("SourceError", "no model given, and this site has no built-in model");
    }
    return this.#load({ ...options, model });
  }

  #load({ model, onProgress, signal, nCtx = DEFAULT_N_CTX, kernels = "wasm", stallTimeout, quantize }) {
    return new Promise((resolve, reject) => {
      const described = describeSource(model);
      quantize ??= QUANTIZE[0];
      if (!QUANTIZE.includes(quantize)) {
        throw new MinferError("RequestError",
                              `quantize must be one of ${QUANTIZE.join(", ")}, got ${JSON.stringify(quantize)}`);
      }
      const checkpoint = Boolean(described.source.files || described.source.base);
      if (signal?.aborted) throw new MinferError("AbortError", "the load was cancelled");
      const rate = new Rate();
      const onAbort = () => this.#worker.postMessage({ type: "stop", id });
      const settle = (fn, value) => {
        signal?.removeEventListener("abort", onAbort);
        this.#handlers.delete(id);
        if (this.#loading && this.#loading.id === id) this.#loading = null;
        fn(value);
      };
      const id = this.#request("load", { source: described.source, n_ctx: nCtx, kernels, stall_s: stallTimeout,
                                         ...(checkpoint ? { quantize } : {}) },
        (msg) => {
          if (msg.type === "progress") {
            onProgress?.(rate.annotate({ stage: msg.stage, loaded: msg.loaded, total: msg.total, detail: msg.detail }));
          } else if (msg.type === "ready") {
            this.info = describeModel(msg.model, described.name);
            settle(resolve, this.info);
          } else if (msg.type === "error") {
            if (msg.unloaded) this.info = null;
            settle(reject, fromReply(msg));
          }
        });
      this.#loading = { id };
      signal?.addEventListener("abort", onAbort, { once: true });
      const runtime = this.#runtime;       // Python started before this load: say how far it got
      if (runtime) onProgress?.({ stage: runtime.stage, loaded: runtime.loaded, total: runtime.total, detail: runtime.detail });
    });
  }

  /** Answer the last user message of `messages` (the whole conversation); an async iterable. */
  chat(messages, options = {}) {
    return this.#answer("chat", { messages }, options);
  }

  /** Continue `prompt` as plain text (no chat template); an async iterable. */
  complete(prompt, options = {}) {
    return this.#answer("complete", { prompt }, options);
  }

  async *#answer(type, fields, options) {
    const { signal, ...wire } = options || {};
    const replies = [];
    let wake = null, finished = false, text = "";
    const id = this.#request(type, { ...fields, options: wire }, (msg) => {
      replies.push(msg);
      wake?.();
    });
    this.#answering = id;
    const onAbort = () => this.#worker.postMessage({ type: "stop", id });
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        while (!replies.length) await new Promise((resolve) => { wake = resolve; });
        wake = null;
        const msg = replies.shift();
        if (msg.type === "token") {
          text += msg.text;
          yield { text: msg.text, done: false };
        } else if (msg.type === "done") {
          finished = true;
          const { type: _t, id: _i, ...stats } = msg;
          this.lastResult = { text, ...stats };
          yield { ...this.lastResult, text: "", done: true };
          return;
        } else if (msg.type === "error") {
          finished = true;
          throw fromReply(msg);
        }
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (this.#answering === id) this.#answering = null;
      if (finished) {
        this.#handlers.delete(id);
      } else if (!this.#dead) {          // the caller left early: stop, and keep the result
        this.#worker.postMessage({ type: "stop", id });
        this.#handlers.set(id, (msg) => {
          if (msg.type === "token") text += msg.text;
          if (msg.type === "done" || msg.type === "error") this.#handlers.delete(id);
          if (msg.type === "done") {
            const { type: _t, id: _i, ...stats } = msg;
            this.lastResult = { text, ...stats };
          }
        });
      }
    }
  }

  /** End the running answer after the current token (it keeps the text so far). */
  stop() {
    if (this.#answering !== null && !this.#dead) this.#worker.postMessage({ type: "stop", id: this.#answering });
  }

  /** Drop the loaded model; the worker stays for the next load. */
  unload() {
    return new Promise((resolve, reject) => {
      const id = this.#request("unload", {}, (msg) => {
        this.#handlers.delete(id);
        if (msg.type === "error") reject(fromReply(msg));
        else {
          this.info = null;
          resolve();
        }
      });
    });
  }

  /** End the worker: all of its memory is freed and this engine cannot be used again. */
  terminate() {
    if (!this.#dead) this.#die(new MinferError("AbortError", "the engine was terminated", { fatal: true }));
  }
}

/** A new engine (its own worker) with `options.model` loaded (see the header). */
export async function load(options = {}) {
  const engine = new Engine(options.workerUrl);
  try {
    await engine.load(options);
  } catch (error) {
    engine.terminate();
    throw error;
  }
  return engine;
}

const Minfer = { load, Engine, MinferError, KNOWN_MODELS, findKnownModel, siteModel, listCachedModels,
                 deleteCachedModel, deleteAllCachedModels, splitThinking };
export default Minfer;
