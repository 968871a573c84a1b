/* minfer-wasm service worker: keeps the app, the Python runtime and the wheels for offline use.
 *
 * Imported by the sw.js that build-site writes at the site root (which sets self.MINFER_BUILD),
 * so its scope is the whole site. The files to keep are listed in site.json; each build gets its
 * own cache and older ones are deleted once it activates. Models are not handled here: the
 * worker stores them in Cache Storage chunk by chunk and reads them with Range requests, which
 * pass through untouched.
 */

const CACHE = `minfer-app-${self.MINFER_BUILD || "dev"}`;
const scope = () => new URL(self.registration.scope);

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const site = await (await fetch(new URL("site.json", scope()), { cache: "no-cache" })).json();
    const cache = await caches.open(CACHE);
    await cache.addAll(site.cache.map((path) => new Request(new URL(path, scope()), { cache: "no-cache" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("minfer-app-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || request.headers.has("Range")) return;
  const url = new URL(request.url);
  const root = scope();
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) return;
  // The page itself, whatever its query (?model=...), is index.html.
  const isPage = request.mode === "navigate" &&
    (url.pathname === root.pathname || url.pathname === `${root.pathname}index.html`);
  const key = isPage ? new URL("index.html", root).href : `${url.origin}${url.pathname}`;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(key);
    return hit || fetch(request);
  })());
});
