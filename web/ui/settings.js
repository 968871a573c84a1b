/* The Settings fields that are kept across reloads (localStorage, via store.js): sampling,
 * engine, system prompt, and which model was loaded. Sampling values belong to a model: a model
 * other than the one they were set for starts from its own defaults (engine.info.sampling_defaults). */

import { loadSettings, saveSettings } from "./store.js";

// Sampling fields: input id -> [option name, parse]
const SAMPLING = {
  temperature: ["temperature", Number],
  "top-k": ["top_k", (v) => parseInt(v, 10)],
  "top-p": ["top_p", Number],
  "min-p": ["min_p", Number],
  "repeat-penalty": ["repeat_penalty", Number],
};
const OTHER = { "max-tokens": ["max_tokens", (v) => parseInt(v, 10)], seed: ["seed", (v) => (v.trim() === "" ? NaN : parseInt(v, 10))] };
const FIELDS = { ...SAMPLING, ...OTHER };
const $ = (id) => document.getElementById(id);

export class Settings {
  constructor() {
    this.saved = loadSettings();
    this.initial = Object.fromEntries(Object.keys(SAMPLING).map((id) => [id, $(id).value]));
    for (const [id, value] of Object.entries(this.saved.fields || {})) {
      if ($(id)) $(id).value = value;
    }
    if (this.saved.system_prompt !== undefined) $("system-prompt").value = this.saved.system_prompt;
    if (this.saved.kernels) $("kernels").value = this.saved.kernels;
    if (this.saved.n_ctx) $("n-ctx").value = this.saved.n_ctx;
    if (this.saved.thinking !== undefined) $("thinking").checked = this.saved.thinking;
    for (const id of [...Object.keys(FIELDS), "system-prompt", "kernels", "n-ctx", "thinking"]) {
      $(id).addEventListener("input", () => this.store());
      $(id).addEventListener("change", () => this.store());
    }
  }

  get(key) {
    return this.saved[key];
  }

  set(key, value) {
    this.saved[key] = value;
    saveSettings(this.saved);
  }

  store() {
    this.saved.fields = Object.fromEntries(Object.keys(FIELDS).map((id) => [id, $(id).value]));
    this.saved.system_prompt = $("system-prompt").value;
    this.saved.kernels = $("kernels").value;
    this.saved.n_ctx = $("n-ctx").value;
    this.saved.thinking = $("thinking").checked;
    saveSettings(this.saved);
  }

  /** Options for engine.chat / engine.complete: the sampling fields that hold numbers. */
  options() {
    const options = {};
    for (const [id, [name, parse]] of Object.entries(FIELDS)) {
      const value = parse($(id).value);
      if (Number.isFinite(value)) options[name] = value;
    }
    options.max_tokens ??= 256;
    return options;
  }

  systemPrompt() {
    return $("system-prompt").value.trim();
  }

  /** The context length, within its input's bounds (2048 when it is not a number). */
  contextLength() {
    const input = $("n-ctx");
    const value = parseInt(input.value, 10);
    if (!Number.isFinite(value)) return 2048;
    return Math.min(Number(input.max), Math.max(Number(input.min), value));
  }

  /** Fill the sampling fields from a model's defaults ({temperature, top_p, ...}; missing keys
   * fall back to the page's own defaults), and remember which model they are for. */
  applyDefaults(defaults, modelKey) {
    for (const [id, [name]] of Object.entries(SAMPLING)) {
      $(id).value = defaults?.[name] ?? this.initial[id];
    }
    this.saved.samplingModel = modelKey;
    this.store();
  }

  /** A model was loaded: its defaults apply unless the kept values were set for this model. */
  modelLoaded(defaults, modelKey) {
    if (this.saved.samplingModel !== modelKey) this.applyDefaults(defaults, modelKey);
  }
}

/** "Model defaults (from the GGUF): temperature 0.2 · top-p 0.9" for the hint under the fields. */
export function describeDefaults(defaults, source) {
  const names = { temperature: "temperature", top_k: "top-k", top_p: "top-p", min_p: "min-p", repeat_penalty: "repetition penalty" };
  const from = { gguf: "from the model file", preset: "recommended for this model", engine: "the engine's" }[source];
  const parts = Object.entries(defaults || {}).filter(([k, v]) => names[k] && v !== null && v !== undefined)
    .map(([k, v]) => `${names[k]} ${v}`);
  return `Model defaults${from ? ` (${from})` : ""}: ${parts.join(" · ")}`;
}
