/* thinking.js: a reasoning model's answer (Qwen3) split into its think block and its reply, for
 * showing the reasoning collapsed. Pure, no engine needed; also exported by minfer.js.
 *
 *   import { splitThinking } from "./web/thinking.js";
 *   splitThinking("<think>\nWhy...\n</think>\n\nHello")
 *     -> {thinking: "Why...", reply: "Hello", open: false}
 *   splitThinking("<think>\nstill thinking")      (while the answer streams)
 *     -> {thinking: "still thinking", reply: "", open: true}
 *   splitThinking("Hello")  -> {thinking: null, reply: "Hello", open: false}
 *
 * The same split as minfer_wasm/chat.py split_thinking: an answer that starts (after any
 * whitespace) with <think> has everything up to </think> as its reasoning (newlines at its ends
 * trimmed) and the rest, after the whitespace that follows </think>, as its reply; while the
 * block is still open, everything after <think> is reasoning (`open` true). An answer that does
 * not start with <think> is all reply (thinking null).
 */

// Python's \s on str (what split_thinking's regex matches): JS's \s differs (it has U+FEFF,
// lacks U+001C-U+001F and U+0085), so the class is spelled out.
const WS = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const THINK = new RegExp(`^${WS}*<think>([\\s\\S]*?)(</think>${WS}*|$)`);

/** {thinking, reply, open} of an answer (see the header). */
export function splitThinking(text) {
  const m = THINK.exec(text);
  if (!m) return { thinking: null, reply: text, open: false };
  return { thinking: m[1].replace(/^\n+|\n+$/g, ""), reply: text.slice(m[0].length), open: m[2] === "" };
}
