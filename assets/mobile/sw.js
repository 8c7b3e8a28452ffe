/* OneMap phone: the offline app shell (issue 17, SPEC §4 weak network). A reload without network
 * opens the page and its drafts (kept in localStorage by outbox.js/app.js) instead of the
 * browser's error page.
 *
 * Network first for the page and its assets (a deploy's new page wins whenever the server
 * answers), the last good copy when it does not. Only GETs of the page shell and /m/assets/ are
 * kept; the JSON API and writes go to the network as before (the outbox retries them). The page
 * carries its user's bootstrap: logout deletes the cached copy (app.js). */
"use strict";
const CACHE = "om-m-shell-v1";
const SHELL = __SHELL__;   // the page's styles and scripts (app.screens.mobile.SCRIPTS, STYLES)
const TIMEOUT_MS = 8000;   // one bar of signal: after this the kept copy is shown

self.addEventListener("install", (ev) => {
  // the page that registered this worker was loaded before it existed: keep a copy of it now
  // (only the real page: a redirect to the login is not a shell)
  ev.waitUntil(caches.open(CACHE).then(async (c) => {
    await c.addAll(SHELL);
    const page = await fetch("/m/", {credentials: "same-origin"}).catch(() => null);
    if (page && page.ok && !page.redirected) await c.put("/m/", page);
  }).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function shell(url) {
  return url.origin === self.location.origin &&
    (url.pathname === "/m/" || url.pathname === "/m" || url.pathname.startsWith("/m/assets/"));
}

async function networkFirst(req, key) {
  const cache = await caches.open(CACHE);
  try {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    const resp = await fetch(req, {signal: ctl.signal});
    clearTimeout(t);
    // keep only a real page (not a redirect to the login, not an error)
    if (resp.ok && resp.type === "basic" && !resp.redirected) await cache.put(key, resp.clone());
    return resp;
  } catch (e) {
    const kept = await cache.match(key);
    if (kept) return kept;
    throw e;
  }
}

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (!shell(url)) return;
  const key = url.pathname.startsWith("/m/assets/") ? url.pathname : "/m/";
  ev.respondWith(networkFirst(req, key));
});
