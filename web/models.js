/* minfer-wasm models: the catalogue of known models, the site's built-in model, and the models
 * kept in Cache Storage. No DOM: web/worker.js imports the cache layout from here too.
 *
 *   KNOWN_MODELS                      [{id, label, file, arch, size, memory, chat, note, sampling}]
 *       size: the GGUF's bytes; memory: the page's wasm heap with it loaded (context 2048,
 *       wasm kernels, measured in Chromium); chat: whether it has a chat template (a base model
 *       has none: use plain completion); sampling: the authors' recommended settings, used
 *       when the GGUF carries no general.sampling.* keys.
 *   findKnownModel({file, basename, size_label})  the catalogue entry of a loaded model or null
 *   siteModel()                       the built-in model of this site: {url, file, known} or null
 *   listCachedModels()                [{url, file, bytes, size, complete}] in Cache Storage
 *   deleteCachedModel(url)            remove one model's entries; resolves to the bytes freed
 *   deleteAllCachedModels()           remove the whole model cache; resolves to the bytes freed
 *
 * Cache layout (written by the worker): the cache MODEL_CACHE holds, per model URL, a manifest
 * at cacheKey(url, "manifest") ({size, validator, chunk, complete}) and its chunks of `chunk`
 * bytes at cacheKey(url, "chunk-<i>"). A chunk entry exists only once stored whole.
 */

export const MODEL_CACHE = "minfer-models-v1";

export const KNOWN_MODELS = [
  {
    id: "smollm2-135m-instruct",
    label: "SmolLM2 135M Instruct",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    basename: "smollm2",
    size_label: "135M",
    arch: "llama",
    size: 98362432,
    memory: 202113024,
    chat: true,
    note: "Tiny and fast; English only, often wrong on facts.",
    // the model card's recommendation (HuggingFaceTB/SmolLM2-135M-Instruct)
    sampling: { temperature: 0.2, top_p: 0.9 },
  },
  {
    id: "gemma-3-270m",
    label: "Gemma 3 270M (base)",
    file: "gemma-3-270m-q4_k_m.gguf",
    basename: "gemma-3",
    size_label: "270M",
    arch: "gemma3",
    size: 253113024,
    memory: 391380992,
    chat: false,
    note: "A base model: it continues text and does not follow instructions.",
    // Gemma 3's generation_config.json
    sampling: { temperature: 1.0, top_k: 64, top_p: 0.95 },
  },
];

/* The catalogue entry for a model known by its file name, or by its GGUF's general.basename and
   general.size_label. */
export function findKnownModel({ file, basename, size_label } = {}) {
  const name = (file || "").split(/[/?#]/).filter(Boolean).pop();
  return KNOWN_MODELS.find((m) => (name && m.file === name) ||
    (basename && m.basename === String(basename).toLowerCase() && m.size_label === size_label)) || null;
}

/* The model built into this site (site.json, next to the web/ folder), or null. */
export async function siteModel(base = new URL("../", import.meta.url)) {
  try {
    const site = await (await fetch(new URL("site.json", base))).json();
    if (!site.model) return null;
    const url = new URL(site.model, base).href;
    const file = url.split("/").pop();
    return { url, file, known: findKnownModel({ file }) };
  } catch {
    return null;
  }
}

/* Cache Storage key of `part` ("manifest" or "chunk-<i>") of the model at `url`. */
export function cacheKey(url, part) {
  const u = new URL(url);
  u.searchParams.set("minfer-cache", part);
  return u.href;
}

/* The model URL a cache key belongs to. */
export function cachedModelUrl(key) {
  const u = new URL(key);
  u.searchParams.delete("minfer-cache");
  return u.href;
}

/* The bytes chunk `index` of a model holds, from its manifest. */
function chunkBytes(manifest, index) {
  return Math.max(0, Math.min(manifest.size, (index + 1) * manifest.chunk) - index * manifest.chunk);
}

async function openCache() {
  if (typeof caches === "undefined") return null;       // an insecure origin: no Cache Storage
  return caches.open(MODEL_CACHE);
}

/* Every model in the cache: url, file name, bytes stored, the model's size, and whether the
   copy is complete (usable offline). Largest first. */
export async function listCachedModels() {
  const cache = await openCache();
  if (!cache) return [];
  const models = new Map();
  for (const request of await cache.keys()) {
    const part = new URL(request.url).searchParams.get("minfer-cache");
    if (!part) continue;
    const url = cachedModelUrl(request.url);
    if (!models.has(url)) models.set(url, { manifest: null, chunks: [] });
    if (part === "manifest") {
      const response = await cache.match(request);
      models.get(url).manifest = response ? await response.json().catch(() => null) : null;
    } else if (part.startsWith("chunk-")) {
      models.get(url).chunks.push(Number(part.slice(6)));
    }
  }
  const list = [];
  for (const [url, { manifest, chunks }] of models) {
    const bytes = manifest ? chunks.reduce((sum, i) => sum + chunkBytes(manifest, i), 0) : 0;
    list.push({ url, file: decodeURIComponent(new URL(url).pathname.split("/").pop() || url), bytes,
                size: manifest ? manifest.size : 0, complete: Boolean(manifest && manifest.complete) });
  }
  return list.sort((a, b) => b.bytes - a.bytes);
}

/* Remove every entry of the model at `url` from the cache; resolves to the bytes freed. */
export async function deleteCachedModel(url) {
  const cache = await openCache();
  if (!cache) return 0;
  const base = new URL(url).href;
  const listed = (await listCachedModels()).find((m) => m.url === base);
  for (const key of await cache.keys()) if (cachedModelUrl(key.url) === base) await cache.delete(key);
  return listed ? listed.bytes : 0;
}

/* Remove the whole model cache; resolves to the bytes freed. */
export async function deleteAllCachedModels() {
  if (typeof caches === "undefined") return 0;
  const freed = (await listCachedModels()).reduce((sum, m) => sum + m.bytes, 0);
  await caches.delete(MODEL_CACHE);
  return freed;
}
