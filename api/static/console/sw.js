/* OCOP Ledger console service worker: network first for console pages, the cached copy when offline.
   Writes are never intercepted: the page's offline queue (console.js) keeps them in IndexedDB. */
"use strict";
const CACHE = "ocop-console-v1";
const SHELL = ["/console/static/console.css", "/console/static/console.js", "/console/manifest.webmanifest"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

function keep(request, response) {
  if (response.ok && response.type === "basic" && !response.redirected) {
    const copy = response.clone();
    caches.open(CACHE).then((c) => c.put(request, copy));
  }
  return response;
}

self.addEventListener("message", (event) => {
  const urls = (event.data && event.data.cache) || [];
  event.waitUntil(
    caches.open(CACHE).then((c) =>
      Promise.all(urls.map((u) => fetch(u, { credentials: "same-origin" })
        .then((r) => (r.ok && !r.redirected ? c.put(u, r) : null)).catch(() => null)))
    )
  );
  if (event.data && event.data.clear) event.waitUntil(caches.delete(CACHE));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/photos/")) {
    event.respondWith(caches.match(req).then((hit) => hit || fetch(req).then((r) => keep(req, r))));
    return;
  }
  if (!url.pathname.startsWith("/console")) return;
  event.respondWith(
    fetch(req).then((r) => keep(req, r)).catch(() =>
      caches.match(req).then((hit) => hit || new Response("Ngoại tuyến / offline", {
        status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" },
      }))
    )
  );
});
