// Service worker: a second visit works with the network off.
//
// The page's own files (HTML, script, style, settings, the library and the onnxruntime-web glue) are
// stored on install and served network-first, so an online visit always gets the current page and an
// offline one gets the stored copy. transformers.js keeps the model files and the WASM binary in its
// own cache ("transformers-cache"), cache-first, under versioned URLs; this worker only adds a fallback
// copy of any other same-origin file the page fetched. Photos are never fetched: they stay in memory.

const CACHE = "clean-or-messy-page-v1";
const SHELL = [
  "./",
  "app.js",
  "resize.js",
  "style.css",
  "settings.json",
  "vendor/transformers.min.js",
  "vendor/ort-wasm-simd-threaded.mjs",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("clean-or-messy-page-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const stored = await cache.match(request, { ignoreSearch: true });
    if (stored) return stored;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  if (url.pathname.endsWith(".wasm") || url.pathname.includes("/model/")) return;  // transformers.js caches these
  event.respondWith(networkFirst(request));
});
