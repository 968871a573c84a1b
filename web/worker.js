/* minfer-wasm worker: Pyodide + the engine (minfer_wasm/browser.py), driven by web/minfer.js.
 *
 * Protocol. Every message is a plain object {type, id, ...}; `id` is the caller's request id and
 * every reply carries the id of the request it answers. The set of types is closed:
 *
 * page -> worker
 *   load      {id, source: {url} | {file} | {files, name} | {base}, n_ctx, kernels: "wasm" | "numpy",
 *              stall_s, quantize}
 *             Load a model: an absolute URL, read with HTTP Range requests in parallel chunks
 *             and kept in Cache Storage, or a File, read with File.slice (never uploaded). Or a
 *             Hugging Face checkpoint: the Files the user picked (`files`, by their names; `name`
 *             for messages) or the files under an absolute base URL ending in "/" (`base`; a
 *             file answered 404 is absent), each read whole into its own bytearray the same
 *             ways: config.json, tokenizer.json, tokenizer_config.json, chat_template.jinja and
 *             model.safetensors.index.json first (config.json is checked before any weight is
 *             read), then model.safetensors or the shards the index names; the engine then
 *             quantizes the weights to `quantize` ("q8_0" when absent; q4_0, q4_1, q4_k, f16,
 *             or none to keep their float type) as it loads them. The
 *             download starts at once (a worker's first load, up to EARLY_BYTES, before Python
 *             runs), while the packages load; the header is checked as soon as the engine is
 *             imported, and a bad file stops the download.
 *             kernels: the quantized matrix products run in the compiled wasm SIMD module
 *             ("wasm", the default) or in numpy ("numpy"). stall_s: seconds without a byte
 *             while a request is open before the load fails (default STALL_S).
 *             A newer load, or `stop` with this id, aborts it at once (its fetches are
 *             aborted); a failed or aborted load removes the Cache Storage entries it wrote
 *             unless they form a complete copy that was there before. The loaded model stays
 *             usable until the new one is ready, unless both cannot be held at once (more than
 *             KEEP_BOTH_BYTES together): then it is dropped first. Replies: progress*, then
 *             ready | error (error.kind "AbortError" when aborted).
 *   chat      {id, messages: [{role: "system" | "user" | "assistant", content}], options}
 *             Answer the last (user) message of the whole conversation `messages`; the KV cache
 *             keeps the longest token prefix it shares with what it holds, so continuing a
 *             conversation, regenerating or editing its end evaluates only what changed.
 *   complete  {id, prompt, options}  Continue the text `prompt` (no chat template).
 *             options (both): temperature, top_k, top_p, min_p, repeat_penalty, max_tokens,
 *             stop (a string or strings), seed (any integer), profile (time the decoded
 *             tokens' matrix products: done.profile); chat also enable_thinking (true or
 *             false: the chat template's reasoning switch, Qwen3's). Replies: token*, then done | error.
 *   stop      {id}  End chat/complete `id` after the current token (its `done` says
 *             "interrupted"; the partial answer is the text sent so far), or abort load `id`.
 *   unload    {id}  Drop the loaded model. Reply: done.
 *
 * worker -> page
 *   progress  {id, stage: "runtime" | "download" | "load", loaded, total, detail}
 *             The runtime starts loading when the worker starts, so its progress has id null.
 *   ready     {id, model: {name, basename, size_label, arch, n_ctx, n_vocab, n_layer, size,
 *                        from_cache, heap_bytes, kernels, kernels_note, chat_template,
 *                        has_chat_template, sampling_gguf, sampling_engine, startup, quantize?}}
 *             name, basename, size_label: the GGUF's general.* keys (name: the file's name when
 *             absent); size: the GGUF's bytes (a checkpoint's: all the files read; its
 *             quantize: the type its weights were quantized to); heap_bytes: the wasm heap (Python's memory) once loaded;
 *             kernels: the path the matrix products run on, "wasm-simd" or "numpy";
 *             kernels_note: why numpy runs although the kernels were asked for ("" otherwise);
 *             chat_template: where the template comes from ("tokenizer.chat_template" when the
 *             GGUF has one: has_chat_template); sampling_gguf: the general.sampling.* values
 *             present, as option names; sampling_engine: the engine's defaults;
 *             startup: seconds since the worker started at which each step ended
 *             {runtime, packages, engine, download, model}.
 *   token     {id, text}  The next piece of the answer (plain text, whole characters).
 *   done      {id, stop_reason, prompt_tokens_evaluated, positions_evaluated, n_ctx_used, timings, profile,
 *              heap_bytes}
 *             stop_reason: "eog" | "stop" | "length" | "interrupted" (absent after unload);
 *             prompt_tokens_evaluated: prompt positions computed this turn (the rest came from
 *             the cache); timings: prompt_tokens, prompt_s, prompt_tps, decode_tokens, decode_s,
 *             decode_tps, ttft_s; profile (when asked): per decoded token, seconds in all
 *             (token_s), in the compiled kernels (kernel_s), in numpy products (numpy_matmul_s);
 *             heap_bytes: the wasm heap now (it never shrinks: its high-water mark).
 *   error     {id, kind, message, fatal, unloaded, heap_bytes}
 *             kind: the engine's error class (SourceError, GGUFError, UnsupportedError,
 *             CheckpointError, ContextOverflowError, TemplateError, SamplingError, RequestError,
 *             OutOfMemoryError, InternalError), or AbortError for an aborted load; never a raw
 *             Python exception name. unloaded: a failed load had dropped the previous model.
 *             fatal: this worker cannot continue; the caller starts a new one.
 *
 * Requests run one at a time in arrival order; `stop` acts at once, a `load` aborts the load
 * before it at once, and a `load` or `unload` that arrives during an answer stops it first.
 */

import { loadPyodide, version as pyodideVersion } from "../pyodide/pyodide.mjs";
import { CHUNK, ModelError, StallWatch, abortable, download, openFile, openUrl } from "./model_bytes.js";
import { INDEX_FILE, SINGLE_FILE, SMALL_FILES, openCheckpoint, weightFiles } from "./checkpoint_files.js";
import { fetchPackages, installPackages } from "./site_packages.js";

const PACKAGES_URL = "../pyodide/site-packages.tar.gz";  // numpy, markupsafe, jinja2, the engine (build-site)
const KERNELS_URL = "../kernels/quant_kernels.so";   // built by build-site from minfer_wasm/kernels
const KERNELS_DIR = "/minfer";                          // where Python's ctypes finds it
// Snapshots of the started interpreter. A snapshot holds zipimport's table of python_stdlib.zip
// (byte-compiled by build-site: minfer_wasm/native/stdlib_zip.py), so it fits that one file:
// a new version here whenever the way that file is made changes; other versions' caches go.
const RUNTIME_CACHE = "minfer-runtime-v2";
const PROGRESS_MS = 100;        // at most one progress message this often (stage ends always go)
const STALL_S = 30;             // default: seconds without a byte, a request open, before a load fails
const KEEP_BOTH_BYTES = 1 << 30;  // the loaded model stays during a load while both fit in this
const EARLY_BYTES = 256 << 20;    // a first load up to this size downloads before Python runs
const DEFAULT_QUANTIZE = "q8_0";  // a checkpoint's weights are quantized to this unless asked
const MAX_SMALL_FILE_BYTES = 64 << 20;  // a checkpoint's JSON files (minfer_wasm/hf/files.py MAX_JSON_BYTES)

let py = null;          // the Pyodide API
let browser = null;     // the minfer_wasm.browser module (PyProxy)
let session = null;     // browser.Session()
let loadedSize = 0;     // bytes of the model the session holds (0: none)
let current = null;     // the running chat or completion: {id, stopped}
let loading = null;     // the latest load request: {id, controller}
let lastProgress = 0;

const post = (msg) => self.postMessage(msg);

function progress(id, stage, loaded, total, detail, force = false) {
  const now = performance.now();
  if (!force && now - lastProgress < PROGRESS_MS) return;
  lastProgress = now;
  post({ type: "progress", id, stage, loaded, total, detail });
}

/* {kind, message, fatal} of any error. Python errors are MinferErrors (browser.py's `_typed`
   sees to it), so their class name is the kind; other JS errors are internal errors. */
function describe(error) {
  if (error instanceof ModelError) return { kind: error.kind, message: error.message, fatal: false };
  if (error && error.constructor && error.constructor.name === "PythonError") {
    // The message is a traceback whose last line is "<module.>Type: <message>".
    const lines = String(error.message).trim().split("\n");
    const last = lines[lines.length - 1];
    const head = `${error.type}: `;
    const at = last.indexOf(head);
    const message = at >= 0 && /^[\w.]*$/.test(last.slice(0, at)) ? last.slice(at + head.length) : last;
    return { kind: error.type, message, fatal: false };
  }
  const text = String((error && error.message) || error);
  if (error instanceof RangeError && /alloc|memory/i.test(text)) {
    return { kind: "OutOfMemoryError", message: `out of memory (${text})`, fatal: false };
  }
  const fatal = Boolean(error && error.pyodide_fatal_error) || /fatal error|Aborted\(/i.test(text);
  return { kind: "InternalError", message: `internal error (${(error && error.name) || "Error"}: ${text})`, fatal };
}

/* ---- runtime: Pyodide, the Python packages and the kernels, all from this site ----------- */

const t0 = performance.now();
const startup = {};            // seconds since the worker started at which each step ended
const mark = (step) => { startup[step] = (performance.now() - t0) / 1000; };

// 1. Python itself. indexURL is relative to this file, so the site works from any sub-path
//    (Pyodide reads its runtime files and pyodide-lock.json there).
//    A snapshot of the fresh interpreter's memory, kept in Cache Storage on the first visit,
//    starts it again in a fraction of the time (measured: 0.15 s against 1.9 s under Node).
const interpreter = (async () => {
  progress(null, "runtime", 0, 3, "Starting Python", true);
  const indexURL = new URL("../pyodide/", import.meta.url).href;
  const options = { indexURL, stdout: (s) => console.log(s), stderr: (s) => console.warn(s) };
  const snapshots = await caches.open(RUNTIME_CACHE).catch(() => null);
  caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith("minfer-runtime-") && n !== RUNTIME_CACHE)
    .map((n) => caches.delete(n)))).catch(() => {});
  const key = new URL(`snapshot-${pyodideVersion}`, indexURL).href;
  const stored = snapshots && (await snapshots.match(key));
  // The snapshot's 20 MB are released as soon as they are copied (transfer(0) frees them at
  // once: no garbage waiting for a collection in a worker that allocates little JS after this).
  if (stored) {
    const snapshot = new Uint8Array(await stored.arrayBuffer());
    try {
      py = await loadPyodide({ ...options, _loadSnapshot: snapshot });
      mark("runtime");
      return;
    } catch (e) {
      console.warn("runtime snapshot unusable, starting afresh:", e);
      await snapshots.delete(key);
    } finally {
      snapshot.buffer.transfer?.(0);
    }
  }
  py = await loadPyodide({ ...options, _makeSnapshot: Boolean(snapshots) });
  if (snapshots) {
    const snapshot = py.makeMemorySnapshot();
    const response = new Response(snapshot);        // holds a copy of the bytes
    snapshot.buffer.transfer?.(0);
    snapshots.put(key, response).catch((e) => console.warn("runtime snapshot:", e));
  }
  mark("runtime");
})();

// 2. The Python packages, fetched and unpacked beside Python's start (web/site_packages.js: one
//    file, byte-compiled at build time, unpacked in JS; numpy's libraries load on first import),
//    then the engine. A model download runs meanwhile (loadModel waits only for the interpreter).
const packageFiles = fetchPackages(new URL(PACKAGES_URL, import.meta.url));
packageFiles.catch(() => {});      // reported by `runtime`, which awaits it
const runtime = interpreter.then(async () => {
  progress(null, "runtime", 1, 3, "Installing numpy and the engine", true);
  const files = await packageFiles.catch((e) => {
    throw new ModelError("SourceError", `the page's Python packages could not be loaded (${e.message})`);
  });
  installPackages(py, files);
  mark("packages");
  progress(null, "runtime", 2, 3, "Importing the engine", true);
  browser = py.pyimport("minfer_wasm.browser");
  session = browser.Session();
  mark("engine");
  progress(null, "runtime", 3, 3, "Python ready", true);
});

// 3. The compiled kernels (a small wasm side module), fetched once; written into Pyodide's file
//    system when a model first asks for them. Resolves to {path} or {note} saying why not.
const kernelBytes = fetch(new URL(KERNELS_URL, import.meta.url))
  .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))))
  .catch((e) => ({ note: `the compiled kernels could not be fetched (${e.message})` }));
let kernelsFile = null;

async function kernelsPath() {
  if (kernelsFile) return kernelsFile;
  const bytes = await kernelBytes;
  if (!(bytes instanceof ArrayBuffer)) return bytes;
  py.FS.mkdirTree(KERNELS_DIR);
  const path = `${KERNELS_DIR}/${KERNELS_URL.split("/").pop()}`;
  py.FS.writeFile(path, new Uint8Array(bytes));
  kernelsFile = { path };
  return kernelsFile;
}

/* Copy a piece of the model into the Python bytearray through a view of the wasm heap (no Python
   call, no extra copy). The view is taken per write: it is invalidated whenever the heap grows. */
function writeAt(bufProxy, offset, bytes) {
  const view = bufProxy.getBuffer("u8");
  try {
    view.data.set(bytes, offset);
  } finally {
    view.release();
  }
}

/* The size of the wasm heap: the ArrayBuffer behind any view of Python memory (by default, of
   a 1-byte bytearray kept for asking); undefined before Python runs. */
let heapProbe = null;
function heapBytes(bufProxy) {
  if (!bufProxy) {
    if (!py) return undefined;
    heapProbe ??= py.runPython("bytearray(1)");
    bufProxy = heapProbe;
  }
  const view = bufProxy.getBuffer("u8");
  try {
    return view.data.buffer.byteLength;
  } finally {
    view.release();
  }
}

/* The bytearray the model is downloaded into: its final place, since the engine's weights are
   views of it on the kernel path. Python's own bytearray, so it needs no engine yet. The
   loaded model stays unless both together would pass KEEP_BOTH_BYTES; returns whether it was
   dropped. */
function allocate(size) {
  const unloaded = makeRoom(size);
  try {
    return { buf: newBytearray(size, size), unloaded };
  } catch (error) {
    error.unloaded = unloaded;
    throw error;
  }
}

/* Room for a model of `size` bytes: refuses one over 2 GiB, and drops the loaded model unless
   both fit in KEEP_BOTH_BYTES; returns whether it was dropped. */
function makeRoom(size) {
  const gib = (size / 2 ** 30).toFixed(2);
  if (size > 2 ** 31 - 1) throw new ModelError("OutOfMemoryError", `the model is ${gib} GiB; this page can hold at most 2 GiB`);
  if (loadedSize && loadedSize + size > KEEP_BOTH_BYTES) {
    session.unload();
    loadedSize = 0;
    return true;
  }
  return false;
}

/* A Python bytearray of `size` bytes (for a model of `total` bytes, named if it fails). */
function newBytearray(size, total) {
  const bytearray = py.globals.get("bytearray");
  try {
    return bytearray(size);
  } catch (error) {
    const gib = (total / 2 ** 30).toFixed(2);
    throw new ModelError("OutOfMemoryError", `there is not enough memory for the ${gib} GiB model`);
  } finally {
    bytearray.destroy();
  }
}

/* Inspect the GGUF header as soon as the engine runs and its bytes are in: rejects a file that
   is not GGUF, or a model the engine cannot run, while the tensors are still downloading. */
async function checkHeader(reader, buf, transfer, signal) {
  await abortable(runtime, signal);
  let have = Math.min(reader.size, CHUNK);
  for (;;) {
    await abortable(transfer.arrived(Math.ceil(have / CHUNK) - 1), signal);
    const result = browser.inspect(buf, have, reader.name);
    const info = result.toJs({ dict_converter: Object.fromEntries });
    result.destroy();
    if (info.need === undefined) return info;
    if (info.need > reader.size) throw new ModelError("GGUFError", `${reader.name}: header runs past the end of the file`);
    have = Math.min(reader.size, Math.ceil(info.need / CHUNK) * CHUNK);
  }
}

async function loadModel(msg, signal) {
  const id = msg.id;
  const where = msg.source.file ? msg.source.file.name : msg.source.url;
  const watch = new StallWatch(msg.controller, msg.stall_s > 0 ? msg.stall_s : STALL_S, where);
  let reader = null, unloaded = false;
  try {
    reader = msg.source.file ? openFile(msg.source.file) : await openUrl(msg.source.url, signal, watch);
    if (reader.size === 0) throw new ModelError("GGUFError", `${reader.name}: the file is empty, not a GGUF model`);
    const label = reader.name.split(/[/?#]/).filter(Boolean).pop() || reader.name;
    let received = 0;
    const onBytes = (n) => {
      watch.bytes();
      received += n;
      progress(id, "download", received, reader.size, reader.fromCache ? "from cache" : label);
    };
    // The bytearray needs Python. A worker's first load does not wait for it: it downloads into
    // a plain buffer meanwhile (pages touched only as bytes arrive), moved into the bytearray
    // once Python runs and released at once (transfer(0) frees it: no garbage left for a GC).
    let early = !py && reader.size <= EARLY_BYTES ? new Uint8Array(reader.size) : null;
    let write = (piece, offset) => early.set(piece, offset);
    let transfer = early ? download(reader, (piece, offset) => write(piece, offset), onBytes) : null;
    transfer?.done.catch(() => {});     // awaited below
    let buf;
    try {
      await abortable(interpreter, signal);
      const allocated = allocate(reader.size);
      unloaded = allocated.unloaded;
      buf = allocated.buf;
    } catch (error) {
      transfer?.stop();
      await transfer?.settled;
      throw error;
    }
    if (early) {
      writeAt(buf, 0, early);           // what came so far; the pieces after it go to buf directly
      early.buffer.transfer?.(0);
      early = null;
    }
    write = (piece, offset) => writeAt(buf, offset, piece);
    transfer ??= download(reader, (piece, offset) => write(piece, offset), onBytes);
    try {
      // 1. The download and the header check run together; whichever fails first stops both,
      //    and the lanes end before buf goes.
      let info;
      try {
        [info] = await Promise.all([checkHeader(reader, buf, transfer, signal), transfer.done]);
      } catch (error) {
        transfer.stop();
        await transfer.settled;
        throw error;
      }
      mark("download");
      progress(id, "download", reader.size, reader.size, reader.fromCache ? "from cache" : "downloaded", true);
      await abortable(reader.finish(), signal);
      // 2. The engine: weights (views of buf on the kernel path), tokenizer, chat template. It
      //    replaces the loaded model only once it is ready.
      const kernels = msg.kernels === "numpy" ? { note: "" } : await abortable(kernelsPath(), signal);
      signal.throwIfAborted();
      const onLoad = (done, total) => progress(id, "load", done, total, `${info.arch} model`);
      const loaded = session.load(buf, reader.name, msg.n_ctx || undefined, onLoad, kernels.path);
      loadedSize = reader.size;
      const model = loaded.toJs({ dict_converter: Object.fromEntries });
      loaded.destroy();
      mark("model");
      if (!model.kernels_note && kernels.note) model.kernels_note = kernels.note;
      progress(id, "load", 1, 1, "ready", true);
      post({ type: "ready", id, model: { ...model, size: reader.size, from_cache: reader.fromCache,
                                         heap_bytes: heapBytes(buf), startup: { ...startup } } });
    } finally {
      buf.destroy();      // the engine keeps its own reference to the bytes
    }
  } catch (error) {
    if (reader) await reader.discard();
    if (error instanceof Error) error.unloaded = unloaded || Boolean(error.unloaded);
    throw error;
  } finally {
    watch.close();
  }
}

/* ---- a Hugging Face checkpoint: its files, each read whole into its own bytearray ---------- */

/* All of `reader` into a new bytearray (PyProxy), with progress through onBytes. */
async function readWhole(reader, total, onBytes, signal) {
  const buf = newBytearray(reader.size, total);
  const transfer = download(reader, (piece, offset) => writeAt(buf, offset, piece), onBytes);
  try {
    await abortable(transfer.done, signal);
    await abortable(reader.finish(), signal);
    return buf;
  } catch (error) {
    transfer.stop();
    await transfer.settled;
    buf.destroy();
    throw error;
  }
}

/* The UTF-8 text in a bytearray (PyProxy). */
function textOf(bufProxy) {
  const view = bufProxy.getBuffer("u8");
  try {
    return new TextDecoder().decode(view.data);
  } finally {
    view.release();
  }
}

/* A Python dict {file name: bytearray} of `buffers` (a Map of PyProxies); the caller destroys it. */
function pyDict(buffers) {
  const dict = py.globals.get("dict");
  const out = dict();
  dict.destroy();
  for (const [name, buf] of buffers) out.set(name, buf);
  return out;
}

/* Load a checkpoint (msg.source: {files, name} or {base}): the small files first, whose
   config.json the engine checks before any weight is read, then the weights (model.safetensors,
   or the shards the index names), then the engine quantizes them to msg.quantize as it loads. */
async function loadCheckpoint(msg, signal) {
  const id = msg.id;
  const quantize = msg.quantize || DEFAULT_QUANTIZE;
  const stall = msg.stall_s > 0 ? msg.stall_s : STALL_S;
  const watch = new StallWatch(msg.controller, stall, msg.source.base || msg.source.name);
  const files = openCheckpoint(msg.source, signal, watch);
  const readers = [], buffers = new Map();    // every reader opened (a URL's writes Cache Storage)
  let unloaded = false, total = 0, received = 0;
  const open = async (fileName) => {
    const reader = await files.open(fileName);
    if (reader) readers.push(reader);
    return reader;
  };
  const read = async (fileName, reader) => {
    const onBytes = (n) => {
      watch.bytes();
      received += n;
      progress(id, "download", received, total, reader.fromCache ? `${fileName} (from cache)` : fileName);
    };
    buffers.set(fileName, await readWhole(reader, total, onBytes, signal));
  };
  let dict = null;
  try {
    await abortable(interpreter, signal);
    for (const fileName of [...SMALL_FILES, INDEX_FILE]) {
      const reader = await open(fileName);
      if (!reader) continue;
      if (reader.size > MAX_SMALL_FILE_BYTES) {
        throw new ModelError("CheckpointError", `${files.name}/${fileName}: ${reader.size} bytes, more than ` +
                             `the ${MAX_SMALL_FILE_BYTES} a JSON file of a checkpoint may have`);
      }
      total += reader.size;
      await read(fileName, reader);
    }
    await abortable(runtime, signal);
    dict = pyDict(buffers);
    const checked = browser.inspect_files(dict, files.name);
    const arch = checked.toJs({ dict_converter: Object.fromEntries }).arch;
    checked.destroy();
    const index = buffers.get(INDEX_FILE);
    const weights = index ? weightFiles(textOf(index)) : [SINGLE_FILE];
    const opened = [];
    for (const fileName of weights) {                 // every size known before any is read
      const reader = await open(fileName);
      if (reader) opened.push([fileName, reader]);
    }
    total += opened.reduce((sum, [, reader]) => sum + reader.size, 0);
    const size = total;
    unloaded = makeRoom(size);
    for (const [fileName, reader] of opened) {
      await read(fileName, reader);
      dict.set(fileName, buffers.get(fileName));
    }
    mark("download");
    progress(id, "download", size, size, "read", true);
    const kernels = msg.kernels === "numpy" ? { note: "" } : await abortable(kernelsPath(), signal);
    signal.throwIfAborted();
    const detail = `${arch} model, quantizing to ${quantize}`;
    const onLoad = (done, all) => progress(id, "load", done, all, detail);
    progress(id, "load", 0, size, detail, true);
    const loaded = session.load_files(dict, files.name, msg.n_ctx || undefined, onLoad, quantize, kernels.path);
    loadedSize = size;
    const model = loaded.toJs({ dict_converter: Object.fromEntries });
    loaded.destroy();
    mark("model");
    if (!model.kernels_note && kernels.note) model.kernels_note = kernels.note;
    progress(id, "load", 1, 1, "ready", true);
    post({ type: "ready", id, model: { ...model, size, from_cache: readers.every((r) => r.fromCache),
                                       quantize, heap_bytes: heapBytes(), startup: { ...startup } } });
  } catch (error) {
    for (const reader of readers) await reader.discard();
    if (error instanceof Error) error.unloaded = unloaded || Boolean(error.unloaded);
    throw error;
  } finally {
    dict?.destroy();
    for (const buf of buffers.values()) buf.destroy();      // the engine holds its own weights
    watch.close();
  }
}

/* ---- generation: one Python step per macrotask, so `stop` is seen between tokens ---------- */

const channel = new MessageChannel();
const wakers = [];
channel.port1.onmessage = () => wakers.shift()();
const nextTask = () => new Promise((resolve) => { wakers.push(resolve); channel.port2.postMessage(null); });

/* Run a chat or completion: start(messages or prompt as Python, options as Python) -> Turn. */
async function answer(msg, start) {
  const input = py.toPy(msg.type === "chat" ? msg.messages : msg.prompt);
  // null means "not given" (Pyodide would pass it on as jsnull, not None)
  const given = Object.entries(msg.options || {}).filter(([, value]) => value !== null && value !== undefined);
  const options = py.toPy(Object.fromEntries(given));
  let turn;
  try {
    turn = start(input, options);
  } finally {
    if (input && input.destroy) input.destroy();
    options.destroy();
  }
  current = { id: msg.id, stopped: false };
  try {
    while (!current.stopped) {
      const piece = turn.step();          // first call: the prompt, then one token per call
      if (piece === undefined) break;
      post({ type: "token", id: msg.id, text: piece });
      await nextTask();
    }
    if (current.stopped) turn.close();
    const summary = turn.summary();
    post({ type: "done", id: msg.id, ...summary.toJs({ dict_converter: Object.fromEntries }), heap_bytes: heapBytes() });
    summary.destroy();
  } finally {
    current = null;
    turn.destroy();
  }
}

let runtimeFailed = false;      // Python or the engine could not start: this worker is done
runtime.catch(() => { runtimeFailed = true; });

async function handle(msg) {
  try {
    if (msg.type === "load") {
      try {
        const load = msg.source.file || msg.source.url ? loadModel : loadCheckpoint;
        await load(msg, msg.controller.signal);         // waits for the parts of the runtime it needs
      } finally {
        if (loading && loading.id === msg.id) loading = null;
      }
      return;
    }
    await runtime;
    if (msg.type === "chat") await answer(msg, (messages, options) => session.chat(messages, options));
    else if (msg.type === "complete") await answer(msg, (prompt, options) => session.complete(prompt, options));
    else if (msg.type === "unload") {
      session.unload();
      loadedSize = 0;
      post({ type: "done", id: msg.id });
    } else throw new ModelError("RequestError", `unknown message type ${JSON.stringify(msg.type)}`);
  } catch (error) {
    const described = describe(error);
    if (runtimeFailed) described.fatal = true;
    post({ type: "error", id: msg.id, ...described, unloaded: Boolean(error && error.unloaded), heap_bytes: heapBytes() });
  }
}

let queue = Promise.resolve();
self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "stop") {
    if (current && (msg.id == null || msg.id === current.id)) current.stopped = true;
    if (loading && (msg.id == null || msg.id === loading.id)) {
      loading.controller.abort(new ModelError("AbortError", "the load was cancelled"));
    }
    return;
  }
  if (msg.type === "load") {
    if (loading) loading.controller.abort(new ModelError("AbortError", "the load was replaced by a newer one"));
    msg.controller = new AbortController();
    loading = { id: msg.id, controller: msg.controller };
  }
  if (current && (msg.type === "load" || msg.type === "unload")) current.stopped = true;
  queue = queue.then(() => handle(msg));
};
