/* minfer-wasm worker: Pyodide + the engine (minfer_wasm/browser.py), driven by the page (app.js).
 *
 * Protocol. Every message is a plain object {type, id, ...}; `id` is the page's request id and
 * every reply carries the id of the request it answers. The set of types is closed:
 *
 * page -> worker
 *   load      {id, source: {url} | {file}, system_prompt, n_ctx, kernels: "wasm" | "numpy"}
 *             Load a model: an absolute URL, read with HTTP Range requests in parallel chunks
 *             and kept in Cache Storage, or a File, read with File.slice (never uploaded). The
 *             download starts as soon as Python runs, while the packages still load; the header
 *             is checked as soon as the engine is imported, and a bad file stops the download.
 *             kernels: the quantized matrix products run in the compiled wasm SIMD module
 *             ("wasm", the default) or in numpy ("numpy"). Replies: progress*, then ready | error.
 *   generate  {id, text, params: {temperature, top_k, top_p, min_p, repeat_penalty}, max_tokens, seed,
 *              profile}
 *             Answer one user message in the current conversation (the KV cache is reused).
 *             profile (optional): time the decoded tokens' matrix products (done.profile).
 *             Replies: token*, then done | error.
 *   stop      {id}  End generate `id` after the current token; its `done` says "interrupted".
 *   reset     {id, system_prompt}  Start a new conversation. Reply: done.
 *
 * worker -> page
 *   progress  {id, stage: "runtime" | "download" | "load", loaded, total, detail}
 *             The runtime starts loading when the worker starts, so its progress has id null.
 *   ready     {id, model: {name, arch, n_ctx, n_vocab, n_layer, size, from_cache, heap_bytes,
 *                        kernels, kernels_note, startup}}
 *             size: the GGUF's bytes; heap_bytes: the wasm heap (Python's memory) once loaded;
 *             kernels: the path the matrix products run on, "wasm-simd" or "numpy";
 *             kernels_note: why numpy runs although the kernels were asked for ("" otherwise);
 *             startup: seconds since the worker started at which each step ended
 *             {runtime, packages, engine, download, model}.
 *   token     {id, text}  The next piece of the answer (plain text).
 *   done      {id, stop_reason, prompt_tokens_evaluated, positions_evaluated, n_ctx_used, timings, profile}
 *             stop_reason: "eog" | "stop" | "length" | "interrupted" (absent after reset);
 *             prompt_tokens_evaluated: prompt positions computed this turn (the rest came from
 *             the cache); timings: prompt_tokens, prompt_s, prompt_tps, decode_tokens, decode_s,
 *             decode_tps, ttft_s; profile (when asked): per decoded token, seconds in all
 *             (token_s), in the compiled kernels (kernel_s), in numpy products (numpy_matmul_s).
 *   error     {id, kind, message, fatal}
 *             kind: the engine's error class (SourceError, GGUFError, UnsupportedError,
 *             ContextOverflowError, ...), MemoryError, or another Python/JS error name.
 *             fatal: this worker cannot continue; the page starts a new one.
 *
 * Requests run one at a time in arrival order; `stop` acts at once, and a `load` or `reset` that
 * arrives during an answer stops it first.
 */

import { loadPyodide, version as pyodideVersion } from "../pyodide/pyodide.mjs";

const PACKAGES = ["numpy", "markupsafe", "jinja2", "minfer-wasm"];
const KERNELS_URL = "../kernels/quant_kernels.so";   // built by build-site from minfer_wasm/kernels
const KERNELS_DIR = "/minfer";                          // where Python's ctypes finds it
const CHUNK = 4 << 20;          // bytes per Range request and per Cache Storage entry
const PARALLEL = 4;             // Range requests in flight
const MODEL_CACHE = "minfer-models-v1";
const RUNTIME_CACHE = "minfer-runtime-v1";   // snapshots of the started interpreter
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

/* ---- runtime: Pyodide, the wheels and the kernels, all from this site -------------------- */

const t0 = performance.now();
const startup = {};            // seconds since the worker started at which each step ended
const mark = (step) => { startup[step] = (performance.now() - t0) / 1000; };

// 1. Python itself. indexURL is relative to this file, so the site works from any sub-path;
//    Pyodide reads pyodide-lock.json there and fetches the wheels it lists from the same folder.
//    A snapshot of the fresh interpreter's memory, kept in Cache Storage on the first visit,
//    starts it again in a fraction of the time (measured: 0.15 s against 1.9 s under Node).
const interpreter = (async () => {
  progress(null, "runtime", 0, 3, "Starting Python", true);
  const indexURL = new URL("../pyodide/", import.meta.url).href;
  const options = { indexURL, stdout: (s) => console.log(s), stderr: (s) => console.warn(s) };
  const snapshots = await caches.open(RUNTIME_CACHE).catch(() => null);
  const key = new URL(`snapshot-${pyodideVersion}`, indexURL).href;
  const stored = snapshots && (await snapshots.match(key));
  if (stored) {
    try {
      py = await loadPyodide({ ...options, _loadSnapshot: new Uint8Array(await stored.arrayBuffer()) });
      mark("runtime");
      return;
    } catch (e) {
      console.warn("runtime snapshot unusable, starting afresh:", e);
      await snapshots.delete(key);
    }
  }
  py = await loadPyodide({ ...options, _makeSnapshot: Boolean(snapshots) });
  if (snapshots) {
    snapshots.put(key, new Response(py.makeMemorySnapshot())).catch((e) => console.warn("runtime snapshot:", e));
  }
  mark("runtime");
})();

// 2. The wheels the lock lists (no resolver: the lock already says what to load), then the
//    engine. A model download runs meanwhile (loadModel waits only for the interpreter).
const runtime = interpreter.then(async () => {
  progress(null, "runtime", 1, 3, "Installing numpy and the engine", true);
  const failures = [];
  await py.loadPackage(PACKAGES, { messageCallback: () => {}, errorCallback: (m) => failures.push(m) });
  if (failures.length) throw new ModelError("SourceError", `installing the wheels failed: ${failures.join("; ")}`);
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

/* Stream `body` (exactly `length` bytes) to put(piece, offset within the body), piece by piece:
   no chunk-sized copy of the model lives in JS (it would stay as garbage in the renderer). */
async function streamBody(body, length, put, onBytes) {
  const reader = body.getReader();
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > length) {
      reader.cancel();
      throw new ModelError("SourceError", `response longer than the ${length} bytes asked for`);
    }
    put(value, at);
    at += value.length;
    onBytes(value.length);
  }
  if (at !== length) throw new ModelError("SourceError", `response ended after ${at} of ${length} bytes`);
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
    /* Chunk `index` to put(piece, offset in the chunk): from Cache Storage when stored whole,
       else from the network, teed into the cache as it streams. */
    async read(index, put, onBytes) {
      const start = index * CHUNK, length = Math.min(size, start + CHUNK) - start;
      const key = cacheKey(url, `chunk-${index}`);
      const hit = cache && (await cache.match(key));
      if (hit) {
        let got = 0;
        try {
          await streamBody(hit.body, length, put, (n) => { got += n; onBytes(n); });
          return;
        } catch (e) {
          if (!(e instanceof ModelError)) throw e;
          onBytes(-got);      // a damaged cached chunk: count it again from the network
        }
      }
      const { response } = await fetchRange(url, start, start + length);
      let body = response.body;
      if (cache) {
        const [mine, stored] = body.tee();
        body = mine;
        pending.push(cache.put(key, new Response(stored)).then(() => true, (e) => {
          console.warn("model cache:", e);       // e.g. over quota: the model still loads
          return false;
        }));
      }
      await streamBody(body, length, put, onBytes);
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
    async read(index, put, onBytes) {
      const start = index * CHUNK, end = Math.min(file.size, start + CHUNK);
      await streamBody(file.slice(start, end).stream(), end - start, put, onBytes);
    },
    async finish() {},
  };
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

/* The size of the wasm heap: the ArrayBuffer behind any view of Python memory. */
function heapBytes(bufProxy) {
  const view = bufProxy.getBuffer("u8");
  try {
    return view.data.buffer.byteLength;
  } finally {
    view.release();
  }
}

/* The bytearray the model is downloaded into: its final place, since the engine's weights are
   views of it on the kernel path. Python's own bytearray, so it needs no engine yet. */
function allocate(size) {
  const gib = (size / 2 ** 30).toFixed(2);
  if (size > 2 ** 31 - 1) throw new ModelError("MemoryError", `the model is ${gib} GiB; this page can hold at most 2 GiB`);
  if (session) session.unload();           // the previous model goes first
  const bytearray = py.globals.get("bytearray");
  try {
    return bytearray(size);
  } catch (error) {
    throw new ModelError("MemoryError", `there is not enough memory for the ${gib} GiB model`);
  } finally {
    bytearray.destroy();
  }
}

/* Chunks 0..n-1 of `reader` streamed into `buf`, PARALLEL requests at a time in index order.
   arrived(i) resolves once chunk i is in place; stop() ends the lanes at their next piece. */
function download(reader, buf, onBytes) {
  const nChunks = Math.ceil(reader.size / CHUNK);
  const waiting = Array.from({ length: nChunks }, () => {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    return { promise, resolve };
  });
  let cursor = 0, stopped = false;
  const lane = async () => {
    try {
      while (cursor < nChunks && !stopped) {
        const index = cursor++;
        await reader.read(index, (piece, at) => {
          if (stopped) throw new ModelError("SourceError", "download stopped");   // buf may be gone
          writeAt(buf, index * CHUNK + at, piece);
        }, onBytes);
        waiting[index].resolve();
      }
    } catch (error) {
      stopped = true;       // the other lanes stop at their next chunk
      throw error;
    }
  };
  return {
    done: Promise.all(Array.from({ length: Math.min(PARALLEL, nChunks) }, lane)),
    arrived: (index) => waiting[Math.min(index, nChunks - 1)].promise,
    stop: () => { stopped = true; },
  };
}

/* Inspect the GGUF header as soon as the engine runs and its bytes are in: rejects a file that
   is not GGUF, or a model the engine cannot run, while the tensors are still downloading. */
async function checkHeader(reader, buf, transfer) {
  await runtime;
  let have = Math.min(reader.size, CHUNK);
  for (;;) {
    await transfer.arrived(Math.ceil(have / CHUNK) - 1);
    const result = browser.inspect(buf, have, reader.name);
    const info = result.toJs({ dict_converter: Object.fromEntries });
    result.destroy();
    if (info.need === undefined) return info;
    if (info.need > reader.size) throw new ModelError("GGUFError", `${reader.name}: header runs past the end of the file`);
    have = Math.min(reader.size, Math.ceil(info.need / CHUNK) * CHUNK);
  }
}

async function loadModel(msg) {
  const id = msg.id;
  const reader = msg.source.file ? openFile(msg.source.file) : await openUrl(msg.source.url);
  if (reader.size === 0) throw new ModelError("GGUFError", `${reader.name}: the file is empty, not a GGUF model`);
  const label = reader.name.split(/[/?#]/).filter(Boolean).pop() || reader.name;
  let received = 0;
  const onBytes = (n) => {
    received += n;
    progress(id, "download", received, reader.size, reader.fromCache ? "from cache" : label);
  };
  await interpreter;
  const buf = allocate(reader.size);
  const transfer = download(reader, buf, onBytes);
  try {
    // 1. The download and the header check run together; whichever fails first stops both.
    let info;
    try {
      [info] = await Promise.all([checkHeader(reader, buf, transfer), transfer.done]);
    } catch (error) {
      transfer.stop();
      throw error;
    }
    mark("download");
    progress(id, "download", reader.size, reader.size, reader.fromCache ? "from cache" : "downloaded", true);
    await reader.finish();
    // 2. The engine: weights (views of buf on the kernel path), tokenizer, chat template.
    const kernels = msg.kernels === "numpy" ? { note: "" } : await kernelsPath();
    const onLoad = (done, total) => progress(id, "load", done, total, `${info.arch} model`);
    const loaded = session.load(buf, reader.name, msg.system_prompt || undefined, msg.n_ctx || undefined,
                                onLoad, kernels.path);
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
    turn = session.start(msg.text, params, msg.max_tokens, msg.seed ?? undefined, Boolean(msg.profile));
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

let runtimeFailed = false;      // Python or the engine could not start: this worker is done
runtime.catch(() => { runtimeFailed = true; });

async function handle(msg) {
  try {
    if (msg.type === "load") {
      await loadModel(msg);         // waits for the parts of the runtime it needs itself
      return;
    }
    await runtime;
    if (msg.type === "generate") await generate(msg);
    else if (msg.type === "reset") {
      session.reset(msg.system_prompt || undefined);
      post({ type: "done", id: msg.id });
    } else throw new ModelError("ProtocolError", `unknown message type ${JSON.stringify(msg.type)}`);
  } catch (error) {
    const described = describe(error);
    if (runtimeFailed) described.fatal = true;
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
