/* The smallest useful page on minfer.js: load the site's built-in model, then answer questions
 * with streamed text. The conversation is kept here and sent whole each turn (the engine reuses
 * what it computed for the earlier turns). */

import Minfer from "./minfer.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const messages = [];
let engine = null;

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
  $("ask").disabled = state !== "ready";
  $("stop").disabled = state !== "generating";
}

async function ask() {
  const question = $("question").value.trim();
  if (!question || !engine) return;
  messages.push({ role: "user", content: question });
  const answer = $("answer");
  answer.textContent = "";
  setStatus("generating", "Answering…");
  try {
    const options = { max_tokens: Number($("max-tokens").value) || 64, temperature: Number($("temperature").value) };
    for await (const chunk of engine.chat(messages, options)) {
      answer.textContent += chunk.text;       // plain text: model output is never parsed as HTML
    }
    const result = engine.lastResult;
    messages.push({ role: "assistant", content: result.text });
    $("stats").textContent = `${result.timings.decode_tps.toFixed(1)} tok/s · first token ` +
      `${result.timings.ttft_s.toFixed(2)} s · ${result.prompt_tokens_evaluated} prompt tokens evaluated · ${result.stop_reason}`;
    answer.dataset.stopReason = result.stop_reason;
    setStatus("ready", "Ready");
  } catch (error) {
    messages.pop();
    setStatus("error", `${error.kind}: ${error.message}`);
  }
}

async function main() {
  try {
    engine = await Minfer.load({
      onProgress: (p) => setStatus("loading", p.stage === "download" && p.total > 1
        ? `Downloading the model: ${(p.loaded / 1e6).toFixed(1)} / ${(p.total / 1e6).toFixed(1)} MB`
        : p.detail || `${p.stage}…`),
    });
    setStatus("ready", `Ready: ${engine.info.label} (${engine.info.arch}, ${engine.info.kernels})`);
  } catch (error) {
    setStatus("error", `${error.kind}: ${error.message}`);
  }
}

$("ask").addEventListener("click", ask);
$("stop").addEventListener("click", () => engine && engine.stop());
main();
