/* minfer-wasm checkpoint files, for web/worker.js: which files of a Hugging Face checkpoint the
 * engine reads (minfer_wasm/hf), and readers over them, from the files the user picked or under
 * a base URL.
 *
 *   files = openCheckpoint(source, signal, watch)    source: {files: [File], name} | {base}
 *           {name, open(fileName) -> reader | null (the checkpoint has no such file)}
 *   SMALL_FILES, INDEX_FILE, SINGLE_FILE; weightFiles(indexText) -> shard names
 *
 * Readers are model_bytes.js readers: a picked File read with File.slice, or a URL read with
 * Range requests and kept in Cache Storage; a base URL's file that answers 404 is absent.
 */

import { ModelError, openFile, openUrl } from "./model_bytes.js";

// The small files, read first (config.json is checked before any weight is read), then the
// weights: model.safetensors, or the shards model.safetensors.index.json names.
export const SMALL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"];
export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

/* The shard file names an index names (its weight_map's values, each once, in order); [] when
   it is not such an index: the engine then says what is wrong with it. */
export function weightFiles(indexText) {
  let index;
  try {
    index = JSON.parse(indexText);
  } catch {
    return [];
  }
  const map = index && typeof index === "object" ? index.weight_map : null;
  if (!map || typeof map !== "object") return [];
  return [...new Set(Object.values(map).filter((v) => typeof v === "string" && v && !/[/\\]/.test(v)))];
}

export function openCheckpoint(source, signal, watch) {
  if (source.files) {
    const byName = new Map(source.files.map((file) => [file.name, file]));
    const open = async (fileName) => (byName.has(fileName) ? openFile(byName.get(fileName)) : null);
    return { name: source.name, open };
  }
  const base = source.base;
  return {
    name: base.replace(/\/+$/, ""),
    async open(fileName) {
      try {
        return await openUrl(new URL(fileName, base).href, signal, watch);
      } catch (error) {
        if (error instanceof ModelError && error.status === 404) return null;
        throw error;
      }
    },
  };
}
