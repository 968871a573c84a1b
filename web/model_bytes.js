/* minfer-wasm model bytes, for web/worker.js: readers over a URL (HTTP Range requests, kept in
 * Cache Storage chunk by chunk) or a File, the parallel download that feeds them to the worker,
 * and the deadlines a load runs under (an AbortSignal, a stall watch).
 *
 *   reader = await openUrl(url, signal, watch) | openFile(file)
 *            {name, size, fromCache, read(index, put, onBytes), finish(), discard()}
 *   transfer = download(reader, write, onBytes)   {done, settled, arrived(index), stop()}
 *
 * Errors are ModelErrors whose kind the page shows as is (an HTTP error answer's also has its
 * `status`); an aborted load rejects with its signal's reason.
 */

import { MODEL_CACHE, cacheKey, cachedModelUrl } from "./models.js";

export const CHUNK = 4 << 20;   // bytes per Range request and per Cache Storage entry
const PARALLEL = 4;             // Range requests in flight
const CLEANUP_MS = 5000;        // at most this long waiting for cache writes before removing them

/* An error whose kind the page shows as is (network, Range and file problems found in JS). */
export class ModelError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/* The request never got an HTTP answer (offline, DNS, refused, CORS). */
export class NetworkError extends ModelError {
  constructor(url) {
    super("SourceError", `${url}: cannot be fetched (network error, or the server refused the request)`);
  }
}

/* `promise`, or the abort reason of `signal` as soon as it is aborted. */
export function abortable(promise, signal) {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/* Aborts a load when no byte arrived for `seconds` while at least one request was open
   (the time spent waiting for Python or reading local files does not count). */
export class StallWatch {
  constructor(controller, seconds, label) {
    this.open = 0;
    this.last = performance.now();
    this.timer = setInterval(() => {
      if (this.open > 0 && performance.now() - this.last > seconds * 1000) {
        controller.abort(new ModelError("SourceError", `${label}: no data for ${seconds} s: the server stalled`));
      }
    }, 250);
  }
  async during(promise) {        // a request is open while `promise` runs
    if (this.open++ === 0) this.last = performance.now();
    try {
      return await promise;
    } finally {
      this.open--;
    }
  }
  bytes() { this.last = performance.now(); }
  close() { clearInterval(this.timer); }
}

function contentRange(response) {
  // "bytes <first>-<last>/<size>" (RFC 9110 section 14.4)
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") || "");
  return m ? { first: Number(m[1]), last: Number(m[2]), size: Number(m[3]) } : null;
}

async function fetchRange(url, start, end, signal) {
  let response;
  try {
    response = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` }, cache: "no-store", signal });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw new NetworkError(url);
  }
  if (response.status === 200) {
    response.body && response.body.cancel();
    if (/^text\/html\b/i.test(response.headers.get("Content-Type") || "")) {
      throw new ModelError("SourceError", `${url}: the server answered with an HTML page, not a model: check the URL`);
    }
    throw new ModelError("SourceError",
      `${url}: the server ignores HTTP Range requests (answered 200 with the whole file, not 206); ` +
      "serve the model from a server with Range support, or open it as a local file");
  }
  if (response.status !== 206) {
    response.body && response.body.cancel();
    const error = new ModelError("SourceError", `${url}: HTTP ${response.status} ${response.statusText}`.trim());
    error.status = response.status;     // a checkpoint's optional file answered 404 is absent
    throw error;
  }
  const range = contentRange(response);
  if (!range || range.first !== start) {
    throw new ModelError("SourceError", `${url}: bad Content-Range "${response.headers.get("Content-Range")}" for bytes ${start}-${end - 1}`);
  }
  return { response, range };
}

/* Stream `body` (exactly `length` bytes) to put(piece, offset within the body), piece by piece:
   no chunk-sized copy of the model lives in JS (it would stay as garbage in the renderer). */
async function streamBody(body, length, put, onBytes, signal) {
  const reader = body.getReader();
  let at = 0;
  for (;;) {
    let done, value;
    try {
      ({ done, value } = await reader.read());
    } catch (e) {
      if (signal && signal.aborted) throw signal.reason;
      throw e instanceof ModelError ? e : new ModelError("SourceError", `the transfer failed: ${e.message || e}`);
    }
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

/* Cache Storage holds a model as a manifest and chunks, keyed as web/models.js says. */
async function deleteCached(cache, url) {
  const base = new URL(url).href;
  for (const key of await cache.keys()) if (cachedModelUrl(key.url) === base) await cache.delete(key);
}

/* A URL model: one 1-byte probe gives size, validator and proof of Range support; chunks come
   from Cache Storage when an identical copy (same size, ETag/Last-Modified) was stored before,
   else from the network. Offline, a complete cached copy is used as is. */
export async function openUrl(url, signal, watch) {
  const cache = await caches.open(MODEL_CACHE).catch(() => null);
  const manifestKey = cacheKey(url, "manifest");
  const stored = cache && (await cache.match(manifestKey));
  let manifest = stored ? await stored.json() : null;
  let size, validator;
  try {
    const { response, range } = await watch.during(fetchRange(url, 0, 1, signal));
    await watch.during(response.arrayBuffer());
    size = range.size;
    validator = response.headers.get("ETag") || response.headers.get("Last-Modified") || "";
  } catch (e) {
    if (!(manifest && manifest.complete && e instanceof NetworkError)) throw e;
    size = manifest.size;          // offline: trust the complete cached copy
    validator = manifest.validator;
  }
  signal.throwIfAborted();
  if (manifest && (manifest.size !== size || manifest.validator !== validator || manifest.chunk !== CHUNK)) {
    await deleteCached(cache, url);
    manifest = null;
  }
  const hadCopy = Boolean(manifest && manifest.complete);
  if (cache && !manifest) {
    manifest = { size, validator, chunk: CHUNK, complete: false };
    await cache.put(manifestKey, new Response(JSON.stringify(manifest)));
  }
  const pending = [];
  return {
    name: url,
    size,
    fromCache: hadCopy,
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
      signal.throwIfAborted();
      const { response } = await watch.during(fetchRange(url, start, start + length, signal));
      let body = response.body;
      if (cache) {
        const [mine, stored] = body.tee();
        body = mine;
        pending.push(cache.put(key, new Response(stored)).then(() => true, (e) => {
          if (!signal.aborted) console.warn("model cache:", e);   // e.g. over quota: the model still loads
          return false;
        }));
      }
      await watch.during(streamBody(body, length, put, onBytes, signal));
    },
    async finish() {
      const stored = await Promise.all(pending);
      if (cache && !manifest.complete && stored.every(Boolean)) {
        manifest.complete = true;
        await cache.put(manifestKey, new Response(JSON.stringify(manifest)));
      }
    },
    /* After a failed or aborted load: remove what this load wrote (all of the model's entries),
       unless a complete copy was stored before it. */
    async discard() {
      if (!cache || hadCopy) return;
      const wait = new Promise((resolve) => setTimeout(resolve, CLEANUP_MS));
      await Promise.race([Promise.allSettled(pending), wait]);
      await deleteCached(cache, url);
    },
  };
}

export function openFile(file) {
  return {
    name: file.name,
    size: file.size,
    fromCache: false,
    async read(index, put, onBytes) {
      const start = index * CHUNK, end = Math.min(file.size, start + CHUNK);
      await streamBody(file.slice(start, end).stream(), end - start, put, onBytes);
    },
    async finish() {},
    async discard() {},
  };
}

/* Chunks 0..n-1 of `reader` handed to write(piece, offset in the model), PARALLEL requests at a
   time in index order. arrived(i) resolves once chunk i is written; stop() ends the lanes at
   their next piece; settled resolves once every lane has ended. */
export function download(reader, write, onBytes) {
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
          if (stopped) throw new ModelError("SourceError", "download stopped");   // the target may be gone
          write(piece, index * CHUNK + at);
        }, onBytes);
        waiting[index].resolve();
      }
    } catch (error) {
      stopped = true;       // the other lanes stop at their next chunk
      throw error;
    }
  };
  const lanes = Array.from({ length: Math.min(PARALLEL, nChunks) }, lane);
  return {
    done: Promise.all(lanes),
    settled: Promise.allSettled(lanes),
    arrived: (index) => waiting[Math.min(index, nChunks - 1)].promise,
    stop: () => { stopped = true; },
  };
}
