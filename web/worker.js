/* minfer-wasm worker: Pyodide + the engine (minfer_wasm/browser.py), driven by the page (app.js).
 *
 * Protocol. Every message is a plain object {type, id, ...}; `id` is the page's request id and
 * every reply carries the id of the request it answers. The set of types is closed:
 *
 * page -> worker
 *   load      {id, source: {url} | {file}, system_prompt, n_ctx}
 *             Load a model: an absolute URL, read with HTTP Range requests (header first, then
 *             the tensors in parallel chunks) and kept in Cache Storage, or a File, read with
 *             File.slice (never uploaded). Replies: progress*, then ready | error.
 *   generate  {id, text, params: {temperature, top_k, top_p, min_p, repeat_penalty}, max_tokens, seed}
 *             Answer one user message in the current conversation (the KV cache is reused).
 *             Replies: token*, then done | error.
 *   stop      {id}  End generate `id` after the current token; its `done` says "interrupted".
 *   reset     {id, system_prompt}  Start a new conversation. Reply: done.
 *
 * worker -> page
 *   progress  {id, stage: "runtime" | "download" | "load", loaded, total, detail}
 *             The runtime starts loading when the worker starts, so its progress has id null.
 *   ready     {id, model: {name, arch, n_ctx, n_vocab, n_layer, size, from_cache, heap_bytes}}
 *             size: the GGUF's bytes; heap_bytes: the wasm heap (Python's memory) once loaded.
 *   token     {id, text}  The next piece of the answer (plain text).
 *   done      {id, stop_reason, prompt_tokens_evaluated, positions_evaluated, n_ctx_used, timings}
 *             stop_reason: "eog" | "stop" | "length" | "interrupted" (absent after reset);
 *             prompt_tokens_evaluated: prompt positions computed this turn (the rest came from
 *             the cache); timings: prompt_tokens, prompt_s, prompt_tps, decode_tokens, decode_s,
 *             decode_tps, ttft_s.
 *   error     {id, kind, message, fatal}
 *             kind: the engine's error class (SourceError, GGUFError, UnsupportedError,
 *             ContextOverflowError, ...), MemoryError, or another Python/JS error name.
 *             fatal: this worker cannot continue; the page starts a new one.
 *
 * Requests run one at a time in arrival order; `stop` acts at once, and a `load` or `reset` that
 * arrives during an answer stops it first.
 */

import { loadPyodide } from "../pyodide/pyodide.mjs";

const PACKAGES = ["numpy", "markupsafe", "jinja2", "micropip", "minfer-wasm"];
const CHUNK = 4 << 20;          // bytes per Range request and per Cache Storage entry
const PARALLEL = 4;             // Range requests in flight
const MODEL_CACHE = "minfer-models-v1";
const PROGRESS_MS = 100;        // at most one progress message this often (stage ends always go)

let py = null;          // the Pyodide API
let browser = null;     // the minfer_wasm.browser module (PyProxy)
let session = null;     // browser.Session()
let current = null;     // the running generate: {id, stopped}
let lastProgress = 0;

const post = (msg) => self.postMessage(msg);

function progress(id, stage, loaded, total, detail, force = false) {
  const now = performance.now();
  if (!force && now - lastProgress < PROGRESS_MS) return;
  lastProgress = now;
  post({ type: "progress", id, stage, loaded, total, detail });
}

/* An error whose kind the page shows as is (network, Range and file problems found in JS). */
class ModelError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/* The request never got an HTTP answer (offline, DNS, refused, CORS). */
class NetworkError extends ModelError {
  constructor(url) {
    super("SourceError", `${url}: cannot be fetched (network error, or the server refused the request)`);
  }
}

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
    return { kind: "MemoryError", message: `out of memory (${text})`, fatal: false };
  }
  const fatal = Boolean(error && error.pyodide_fatal_error) || /fatal error|Aborted\(/i.test(text);
  return { kind: (error && error.name) || "Error", message: text, fatal };
}

/* ---- runtime: Pyodide and the wheels, all from this site ---------------------------------- */

const runtime = (async () => {
  const steps = 3;
  progress(null, "runtime", 0, steps, "Starting Python", true);
  // indexURL is relative to this file, so the site works from any sub-path; Pyodide reads
  // pyodide-lock.json there and fetches the wheels it lists from the same folder.
  const indexURL = new URL("../pyodide/", import.meta.url).href;
  py = await loadPyodide({ indexURL, stdout: (s) => console.log(s), stderr: (s) => console.warn(s) });
  progress(null, "runtime", 1, steps, "Installing numpy and the engine", true);
  const failures = [];
  await py.loadPackage(PACKAGES, { messageCallback: () => {}, errorCallback: (m) => failures.push(m) });
  if (failures.length) throw new ModelError("SourceError", `installing the wheels failed: ${failures.join("; ")}`);
  progress(null, "runtime", 2, steps, "Importing the engine", true);
  browser = py.pyimport("minfer_wasm.browser");
  session = browser.Session();
  progress(null, "runtime", steps, steps, "Python ready", true);
})();

/* ---- model bytes: readers over a URL (Range) or a File -------------------------------------- */

function contentRange(response) {
  // "bytes <first>-<last>/<size>" (RFC 9110 section 14.4)
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") || "");
  return m ? { first: Number(m[1]), last: Number(m[2]), size: Number(m[3]) } : null;
}

async function fetchRange(url, start, end) {
  let response;
  try {
    response = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` }, cache: "no-store" });
  } catch (e) {
    throw new NetworkError(url);
  }
  if (response.status === 200) {
    response.body && response.body.cancel();
    throw new ModelError("SourceError",
      `${url}: the server ignores HTTP Range requests (answered 200 with the whole file, not 206); ` +
      "serve the model from a server with Range support, or open it as a local file");
  }
  if (response.status !== 206) {
    throw new ModelError("SourceError", `${url}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const range = contentRange(response);
  if (!range || range.first !== start) {
    throw new ModelError("SourceError", `${url}: bad Content-Range "${response.headers.get("Content-Range")}" for bytes ${start}-${end - 1}`);
  }
  return { response, range };
}

async function bodyBytes(response, length, onBytes) {
  const out = new Uint8Array(length);
  const reader = response.body.getReader();
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > length) throw new ModelError("SourceError", `response longer than the ${length} bytes asked for`);
    out.set(value, at);
    at += value.length;
    onBytes(value.length);
  }
  if (at !== length) throw new ModelError("SourceError", `response ended after ${at} of ${length} bytes`);
  return out;
}

/* Cache Storage keys of a model: its URL plus a `minfer-cache` query parameter naming the part. */
function cacheKey(url, part) {
  const u = new URL(url);
  u.searchParams.set("minfer-cache", part);
  return u.href;
}

function cachedModelUrl(key) {
  const u = new URL(key);
  u.searchParams.delete("minfer-cache");
  return u.href;
}

/* A URL model: one 1-byte probe gives size, validator and proof of Range support; chunks come
   from Cache Storage when an identical copy (same size, ETag/Last-Modified) was stored before,
   else from the network. Offline, a complete cached copy is used as is. */
async function openUrl(url) {
  const cache = await caches.open(MODEL_CACHE).catch(() => null);
  const manifestKey = cacheKey(url, "manifest");
  const stored = cache && (await cache.match(manifestKey));
  let manifest = stored ? await stored.json() : null;
  let size, validator;
  try {
    const { response, range } = await fetchRange(url, 0, 1);
    await response.arrayBuffer();
    size = range.size;
    validator = response.headers.get("ETag") || response.headers.get("Last-Modified") || "";
  } catch (e) {
    if (!(manifest && manifest.complete && e instanceof NetworkError)) throw e;
    size = manifest.size;          // offline: trust the complete cached copy
    validator = manifest.validator;
  }
  if (manifest && (manifest.size !== size || manifest.validator !== validator || manifest.chunk !== CHUNK)) {
    const base = new URL(url).href;
    for (const key of await cache.keys()) if (cachedModelUrl(key.url) === base) await cache.delete(key);
    manifest = null;
  }
  if (cache && !manifest) {
    manifest = { size, validator, chunk: CHUNK, complete: false };
    await cache.put(manifestKey, new Response(JSON.stringify(manifest)));
  }
  const pending = [];
  return {
    name: url,
    size,
    fromCache: Boolean(manifest && manifest.complete),
    async read(index, onBytes) {
      const start = index * CHUNK, end = Math.min(size, start + CHUNK);
      const key = cacheKey(url, `chunk-${index}`);
      const hit = cache && (await cache.match(key));
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        if (bytes.length === end - start) {
          onBytes(bytes.length);
          return bytes;
        }
      }
      const { response } = await fetchRange(url, start, end);
      const bytes = await bodyBytes(response, end - start, onBytes);
      if (cache) {
        pending.push(cache.put(key, new Response(bytes)).then(() => true, (e) => {
          console.warn("model cache:", e);       // e.g. over quota: the model still loads
          return false;
        }));
      }
      return bytes;
    },
    async finish() {
      const stored = await Promise.all(pending);
      if (cache && !manifest.complete && stored.every(Boolean)) {
        manifest.complete = true;
        await cache.put(manifestKey, new Response(JSON.stringify(manifest)));
      }
    },
  };
}

function openFile(file) {
  return {
    name: file.name,
    size: file.size,
    fromCache: false,
    async read(index, onBytes) {
      const start = index * CHUNK, end = Math.min(file.size, start + CHUNK);
      const bytes = new Uint8Array(await file.slice(start, end).arrayBuffer());
      onBytes(bytes.length);
      return bytes;
    },
    async finish() {},
  };
}

/* Copy a chunk into the Python bytearray through a view of the wasm heap (no Python call, no
   extra copy). The view is taken per write: it is invalidated whenever the heap grows. */
function writeAt(bufProxy, offset, bytes) {
  const view = bufProxy.getBuffer("u8");
  try {
    view.data.set(bytes, offset);
  } finally {
    view.release();
  }
}

/* The size of the wasm heap: the ArrayBuffer behind any view of Python memory. */
function heapBytes(bufProxy) {
  const view = bufProxy.getBuffer("u8");
  try {
    return view.data.buffer.byteLength;
  } finally {
    view.release();
  }
}

async function loadModel(msg) {
  const id = msg.id;
  const reader = msg.source.file ? openFile(msg.source.file) : await openUrl(msg.source.url);
  if (reader.size === 0) throw new ModelError("GGUFError", `${reader.name}: the file is empty, not a GGUF model`);
  const nChunks = Math.ceil(reader.size / CHUNK);
  const label = reader.name.split(/[/?#]/).filter(Boolean).pop() || reader.name;
  let received = 0;
  const onBytes = (n) => {
    received += n;
    progress(id, "download", received, reader.size, reader.fromCache ? "from cache" : label);
  };
  const buf = session.allocate(reader.size);
  try {
    // 1. The header: chunk by chunk until the GGUF reader has all of it; this rejects a file
    //    that is not GGUF or a model the engine cannot run before the tensors are fetched.
    let have = 0, next = 0, info;
    for (;;) {
      writeAt(buf, next * CHUNK, await reader.read(next, onBytes));
      have = Math.min(reader.size, ++next * CHUNK);
      const result = browser.inspect(buf, have, reader.name);
      info = result.toJs({ dict_converter: Object.fromEntries });
      result.destroy();
      if (info.need === undefined) break;
      if (info.need > reader.size) throw new ModelError("GGUFError", `${reader.name}: header runs past the end of the file`);
    }
    // 2. The tensors: the remaining chunks, PARALLEL requests at a time.
    let cursor = next, failed = false;
    const lane = async () => {
      try {
        while (cursor < nChunks && !failed) {
          const index = cursor++;
          const bytes = await reader.read(index, onBytes);
          if (!failed) writeAt(buf, index * CHUNK, bytes);
        }
      } catch (error) {
        failed = true;      // the other lanes stop at their next chunk (buf is freed below)
        throw error;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, nChunks) }, lane));
    progress(id, "download", reader.size, reader.size, reader.fromCache ? "from cache" : "downloaded", true);
    await reader.finish();
    // 3. The engine: quantized weights, tokenizer, chat template.
    const onLoad = (done, total) => progress(id, "load", done, total, `${info.arch} model`);
    const loaded = session.load(buf, reader.name, msg.system_prompt || undefined, msg.n_ctx || undefined, onLoad);
    const model = loaded.toJs({ dict_converter: Object.fromEntries });
    loaded.destroy();
    progress(id, "load", 1, 1, "ready", true);
    post({ type: "ready", id, model: { ...model, size: reader.size, from_cache: reader.fromCache, heap_bytes: heapBytes(buf) } });
  } finally {
    buf.destroy();      // the engine keeps its own reference to the bytes
  }
}

/* ---- generation: one Python step per macrotask, so `stop` is seen between tokens ---------- */

const channel = new MessageChannel();
const wakers = [];
channel.port1.onmessage = () => wakers.shift()();
const nextTask = () => new Promise((resolve) => { wakers.push(resolve); channel.port2.postMessage(null); });

async function generate(msg) {
  const params = py.toPy(msg.params || {});
  let turn;
  try {
    turn = session.start(msg.text, params, msg.max_tokens, msg.seed ?? undefined);
  } finally {
    params.destroy();
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
    post({ type: "done", id: msg.id, ...summary.toJs({ dict_converter: Object.fromEntries }) });
    summary.destroy();
  } finally {
    current = null;
    turn.destroy();
  }
}

async function handle(msg) {
  try {
    await runtime;
    if (msg.type === "load") await loadModel(msg);
    else if (msg.type === "generate") await generate(msg);
    else if (msg.type === "reset") {
      session.reset(msg.system_prompt || undefined);
      post({ type: "done", id: msg.id });
    } else throw new ModelError("ProtocolError", `unknown message type ${JSON.stringify(msg.type)}`);
  } catch (error) {
    const described = describe(error);
    if (!py || !session) described.fatal = true;        // the runtime itself failed to start
    post({ type: "error", id: msg.id, ...described });
  }
}

let queue = Promise.resolve();
self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "stop") {
    if (current && (msg.id == null || msg.id === current.id)) current.stopped = true;
    return;
  }
  if (current && msg.type !== "generate") current.stopped = true;
  queue = queue.then(() => handle(msg));
};
