/* On narrow screens the chat list and Settings are drawers over the conversation (style.css
 * decides when); their toggles, Close, the scrim and Escape open and close them. */

const $ = (id) => document.getElementById(id);
const DRAWERS = { settings: "settings-toggle", sidebar: "chats-toggle" };
const NARROW = "(max-width: 1100px)";       // Settings is a drawer below this width (style.css)

function setDrawer(id, open) {
  $(id).classList.toggle("open", open);
  $(DRAWERS[id]).setAttribute("aria-expanded", String(open));
  $("scrim").hidden = !document.querySelector(".drawer.open");
}

export function closeDrawers() {
  for (const id of Object.keys(DRAWERS)) setDrawer(id, false);
}

/** Show Settings (a load error is shown there), when it is a drawer. */
export function openSettings() {
  if (window.matchMedia(NARROW).matches) setDrawer("settings", true);
}

export function wireDrawers() {
  for (const [id, toggle] of Object.entries(DRAWERS)) {
    $(toggle).addEventListener("click", () => setDrawer(id, !$(id).classList.contains("open")));
  }
  $("settings-close").addEventListener("click", closeDrawers);
  $("scrim").addEventListener("click", closeDrawers);
  document.addEventListener("keydown", (event) => event.key === "Escape" && closeDrawers());
}
