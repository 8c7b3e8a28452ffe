/* OneMap mobile outbox (待发送): nothing is lost, nothing is sent twice (issue 6, SPEC §4).
 *
 * Every report, task update and patrol entry is first written to localStorage with a key made on
 * the phone (the idempotency key). It stays there until the server confirms it. Sending is
 * retried with exponential backoff and always with the same key, so a retry after a lost answer
 * creates nothing new on the server (IncidentService.report(..., idempotency_key=...)).
 * Photos are uploaded first, one request each (content-addressed on the server, so a retried
 * upload is harmless too); once the server has a photo its data URL is dropped to save space.
 *
 * Tied to its author (issue 17, shared phones): every item carries the id of the user who wrote
 * it; only the logged-in user's items are shown and sent. Worker A's unsent report stays kept on
 * the phone under worker B's login (never sent as B's, never shown as B's) until A logs in
 * again. The server checks the ``author`` field against the session too (409 otherwise).
 */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const STORE = "om.outbox.v1";
  const SENT = "om.sent.v1";
  const BACKOFF_MIN_MS = 2000;   // first retry after ~2 s …
  const BACKOFF_MAX_MS = 60000;  // … doubling up to a minute (weak network, save battery)
  const TIMEOUT_MS = 20000;      // one request; photos get three times that
  const listeners = [];
  let flushing = null;
  let timer = null;
  let user = "";   // the logged-in user (OM.outbox.start): the only author whose items go out

  function mine(x) { return !!user && x.author === user; }

  function newKey() {
    // crypto.randomUUID exists only on https; getRandomValues works on a plain-http intranet too.
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function read(name) {
    try { return JSON.parse(localStorage.getItem(name) || "[]"); } catch (e) { return []; }
  }

  function write(name, items) {
    try {
      localStorage.setItem(name, JSON.stringify(items));
      return true;
    } catch (e) {  // quota: keep what fits, tell the worker
      OM.outbox.lastError = "手机存储已满，请先发送或删除待发送的上报";
      return false;
    }
  }

  function notify() { listeners.forEach((cb) => { try { cb(); } catch (e) { console.error(e); } }); }

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : (OM.csrf || "");
  }

  async function request(url, opts, timeoutMs) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), timeoutMs || TIMEOUT_MS);
    try {
      const headers = Object.assign({"Accept": "application/json", "X-CSRFToken": csrf()},
                                    opts.headers || {});
      return await fetch(url, Object.assign({}, opts, {headers, signal: ctl.signal,
                                                        credentials: "same-origin"}));
    } finally { clearTimeout(t); }
  }

  function dataUrlToBlob(url) {
    const [head, b64] = url.split(",");
    const type = (head.match(/data:([^;]+)/) || [])[1] || "image/jpeg";
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], {type});
  }

  class Retry extends Error {
    constructor(msg, afterMs) { super(msg); this.afterMs = afterMs || 0; }
  }
  class Fatal extends Error {}

  async function judge(resp) {
    if (resp.ok) return resp.json().catch(() => ({}));
    let body = {};
    try { body = await resp.json(); } catch (e) { /* not JSON */ }
    const why = body.reason || body.error || ("HTTP " + resp.status);
    if (resp.status === 401) throw new Retry("登录已过期，请重新登录后自动发送 (" + why + ")");
    if (resp.status === 403 && body.error === "csrf") throw new Retry("会话已更新，重试中");
    // another user's session (a shared phone): keep it for its author, never give it up
    if (resp.status === 409 && body.error === "author_mismatch") throw new Retry(why, BACKOFF_MAX_MS);
    if (resp.status === 429) {
      const after = parseInt(resp.headers.get("Retry-After") || "10", 10) * 1000;
      throw new Retry("发送过于频繁，稍后自动重试", after);
    }
    if (resp.status === 408 || resp.status >= 500) throw new Retry("服务器暂时不可用 (" + why + ")");
    throw new Fatal(why);  // 400/403/404/413/415: sending again would not help
  }

  async function sendOne(item) {
    for (const p of item.photos) {
      if (p.id) continue;
      const resp = await request("/m/api/photos", {method: "POST", body: dataUrlToBlob(p.data),
        headers: {"Content-Type": "image/jpeg", "X-Author": item.author}}, TIMEOUT_MS * 3);
      const out = await judge(resp);
      p.id = out.id;
      p.data = null;  // the server has it now: free the phone's storage
      OM.outbox.update(item);
    }
    const body = Object.assign({}, item.payload, {key: item.key, author: item.author,
                                                   photos: item.photos.map((p) => p.id)});
    const resp = await request(item.url, {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Idempotency-Key": item.key,
                "X-Author": item.author}});
    return judge(resp);
  }

  OM.outbox = {
    lastError: "",
    newKey,
    csrf,
    request,
    onChange(cb) { listeners.push(cb); },
    /** The logged-in user's items only (another user's stay kept, unseen, unsent). */
    items() { return read(STORE).filter(mine); },
    /** How many items of other users this phone keeps for them. */
    othersCount() { return read(STORE).filter((x) => !mine(x)).length; },
    sent() { return read(SENT).filter(mine); },
    user() { return user; },

    /** Keep a new item (a draft until confirmed); returns it. photos: JPEG data URLs. */
    add(kind, url, payload, photos, title) {
      if (!user) throw new Error("未登录，无法保存");
      const item = {key: newKey(), author: user, kind, url, payload, title: title || kind,
                    photos: (photos || []).map((d) => ({data: d, id: null})),
                    created: Date.now(), attempts: 0, next_at: 0, state: "waiting",
                    last_error: ""};
      const items = read(STORE);
      items.push(item);
      if (!write(STORE, items)) throw new Error(OM.outbox.lastError);
      notify();
      return item;
    },

    update(item) {
      const items = read(STORE).map((x) => (x.key === item.key ? item : x));
      write(STORE, items);
    },

    remove(key) {
      write(STORE, read(STORE).filter((x) => x.key !== key));
      notify();
    },

    /** Send every item that is due (all of them when force). One flush at a time. */
    flush(force) {
      if (flushing) return flushing;
      flushing = (async () => {
        const now = Date.now();
        for (const item of read(STORE)) {
          if (!mine(item)) continue;   // another user's: kept until they log in again
          if (item.state === "failed" || (!force && item.next_at > now)) continue;
          item.state = "sending";
          OM.outbox.update(item);
          notify();
          try {
            const out = await sendOne(item);
            write(STORE, read(STORE).filter((x) => x.key !== item.key));
            const sent = read(SENT);
            sent.unshift({key: item.key, author: item.author, kind: item.kind, title: item.title,
                          id: out.id || out.incident_id || "", at: Date.now(),
                          duplicate: !!out.duplicate});
            write(SENT, sent.slice(0, 30));
          } catch (err) {
            item.attempts += 1;
            item.last_error = err.name === "AbortError" ? "网络超时" :
              (err instanceof TypeError ? "网络不可用" : err.message);
            if (err instanceof Fatal) {
              item.state = "failed";
            } else {
              const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (item.attempts - 1));
              item.state = "waiting";
              item.next_at = Date.now() + Math.max(err.afterMs || 0,
                                                   backoff * (0.75 + Math.random() / 2));
            }
            OM.outbox.update(item);
          }
          notify();
        }
      })().finally(() => { flushing = null; OM.outbox.schedule(); });
      return flushing;
    },

    /** Arm one timer for the next due item. */
    schedule() {
      clearTimeout(timer);
      const due = read(STORE).filter((x) => mine(x) && x.state !== "failed").map((x) => x.next_at);
      if (!due.length) return;
      const wait = Math.max(200, Math.min(...due) - Date.now());
      timer = setTimeout(() => OM.outbox.flush(false), wait);
    },

    /** Items "sending" when the page was closed are waiting again. ``who``: the logged-in
     * user's id (the page's bootstrap); items written before authors were recorded (no
     * ``author``) are kept but sent by no one: whose they are is not known. */
    start(who) {
      user = String(who || "");
      const items = read(STORE).map((x) => (x.state === "sending" && mine(x) ? Object.assign(x,
        {state: "waiting"}) : x));
      write(STORE, items);
      window.addEventListener("online", () => OM.outbox.flush(true));
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") OM.outbox.flush(true);
      });
      OM.outbox.flush(true);
    },
  };
})();
