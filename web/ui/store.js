/* What survives a reload: chats in IndexedDB, settings in localStorage.
 *
 * A chat is {id, title, messages: [{role, content, meta?}], created, updated}; messages are
 * OpenAI-style ("user" | "assistant"), meta holds an answer's stats line and stop reason.
 */

const DB_NAME = "minfer-chats";
const STORE = "chats";
const SETTINGS_KEY = "minfer-settings-v1";

let dbPromise = null;

function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: "id" });
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  return dbPromise;
}

async function run(mode, action) {
  const store = (await db()).transaction(STORE, mode).objectStore(STORE);
  return new Promise((resolve, reject) => {
    const request = action(store);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Every chat, the most recently updated first. */
export async function listChats() {
  const chats = await run("readonly", (store) => store.getAll());
  return chats.sort((a, b) => b.updated - a.updated);
}

export const saveChat = (chat) => run("readwrite", (store) => store.put(chat));
export const deleteChat = (id) => run("readwrite", (store) => store.delete(id));

export function newChat() {
  const now = Date.now();
  return { id: crypto.randomUUID(), title: "New chat", messages: [], created: now, updated: now };
}

/** A chat's title from its first user message. */
export function titleFrom(text) {
  const line = text.trim().split("\n")[0];
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || "New chat";
}

/** Chats read from an export: checked field by field, with new ids (never overwriting). */
export function parseExport(json) {
  let data;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`);
  }
  const chats = Array.isArray(data) ? data : data?.chats;
  if (!Array.isArray(chats)) throw new Error("expected {chats: [...]} as written by Export");
  return chats.map((chat, i) => {
    if (!Array.isArray(chat?.messages)) throw new Error(`chat ${i + 1} has no messages list`);
    const messages = chat.messages.map((m, j) => {
      if (!["user", "assistant"].includes(m?.role) || typeof m.content !== "string") {
        throw new Error(`chat ${i + 1}, message ${j + 1}: expected {role: "user" | "assistant", content: text}`);
      }
      return { role: m.role, content: m.content };
    });
    const now = Date.now();
    return { ...newChat(), title: String(chat.title || titleFrom(messages[0]?.content || "")), messages,
             created: Number(chat.created) || now, updated: Number(chat.updated) || now };
  });
}

export function exportJson(chats) {
  return JSON.stringify({ format: "minfer-chats", version: 1, chats }, null, 2);
}

export function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY)) || {};
  } catch {
    return {};
  }
}

export function saveSettings(settings) {
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
}
