/* OCOP Ledger console: conveniences only (every task works without this script).
   - registers the service worker that keeps the console's pages for use without signal;
   - the event form queues each submission in IndexedDB with its capture time and a fresh
     Idempotency-Key, shows what waits, and sends it when the network returns: each exactly once
     (a resend of the same key returns the first answer and stores nothing new);
   - fills the phone's GPS position into the lot form, and the current time into the event form. */
(function () {
  "use strict";
  var PREFIX = "/console";
  var DB = "ocop-console", STORE = "queue";
  var lang = document.body.getAttribute("data-lang") || "vi";
  var T = {
    vi: { failed: "bị từ chối", waiting: "chờ gửi", sending: "đang gửi" },
    en: { failed: "refused", waiting: "waiting", sending: "sending" }
  }[lang];
  var draining = false;

  function $(sel) { return document.querySelector(sel); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function localNow() {
    var d = new Date();
    d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 16);
  }

  /* --- IndexedDB ------------------------------------------------------------------------- */
  function db() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(STORE, mode), out = fn(t.objectStore(STORE));
        t.oncomplete = function () { resolve(out && out.result); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  function all() { return tx("readonly", function (s) { return s.getAll(); }); }
  function put(entry) { return tx("readwrite", function (s) { s.put(entry); }); }
  function remove(key) { return tx("readwrite", function (s) { s["delete"](key); }); }

  /* --- the visible queue ----------------------------------------------------------------- */
  function show() {
    var box = $("#queue");
    if (!box) return Promise.resolve();
    return all().then(function (items) {
      items.sort(function (a, b) { return a.captured < b.captured ? -1 : 1; });
      var list = $("#queue-list");
      list.textContent = "";
      items.forEach(function (it) {
        var li = document.createElement("li");
        li.textContent = it.label + " · " + it.captured.slice(0, 16).replace("T", " ") + " · " +
          (it.error ? T.failed + ": " + it.error : T.waiting);
        if (it.error) li.className = "failed";
        list.appendChild(li);
      });
      $("#queue-count").textContent = String(items.length);
      box.hidden = items.length === 0;
    });
  }

  /* --- sending --------------------------------------------------------------------------- */
  /* A submission queued before the session expired is sent with the current session's CSRF token,
     but only when the same person is signed in again; anyone else's queue is left alone. */
  function currentCsrf(it) {
    var input = document.querySelector("input[name=csrf]");
    var me = document.body.getAttribute("data-account");
    return input && me && me === it.account ? input.value : null;
  }

  function send(it) {
    var fd = new FormData(), csrf = currentCsrf(it);
    it.fields.forEach(function (f) { fd.append(f[0], f[0] === "csrf" && csrf ? csrf : f[1]); });
    it.files.forEach(function (f) { fd.append(f.name, f.blob, f.filename); });
    return fetch(it.action, {
      method: "POST", body: fd, credentials: "same-origin",
      headers: { "Idempotency-Key": it.key, "Accept": "application/json" }
    });
  }

  function drain() {
    if (draining || !navigator.onLine || !document.body.getAttribute("data-account")) return Promise.resolve(null);
    draining = true;
    var last = null;
    return all().then(function (items) {
      items = items.filter(function (it) { return !it.error; });
      items.sort(function (a, b) { return a.captured < b.captured ? -1 : 1; });
      return items.reduce(function (p, it) {
        return p.then(function (stop) {
          if (stop) return true;
          return send(it).then(function (resp) {
            if (resp.ok) { last = it; return remove(it.key).then(function () { return false; }); }
            if (resp.status === 401 || resp.status === 429 || resp.status >= 500) return true; // retry later
            return resp.json().catch(function () { return {}; }).then(function (body) {
              it.error = (body.error && body.error.message) || ("HTTP " + resp.status);
              return put(it).then(function () { return false; });
            });
          }, function () { return true; }); // still no network
        });
      }, Promise.resolve(false));
    }).then(function () { draining = false; return show().then(function () { return last; }); },
            function () { draining = false; return null; });
  }

  /* A phone camera's photo (often 4-12 MB) is redrawn at most 1600 px wide as a JPEG before it is
     queued: the photo that is signed and stored is this smaller one. Unreadable files go as they are. */
  function shrink(file) {
    if (!window.createImageBitmap || !/^image\//.test(file.type)) return Promise.resolve(file);
    return createImageBitmap(file).then(function (img) {
      var scale = Math.min(1, 1600 / Math.max(img.width, img.height));
      if (scale === 1 && file.size < 1024 * 1024) return file;
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale);
      canvas.height = Math.round(img.height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", 0.85);
      });
    }, function () { return file; });
  }

  function shrinkAll(entry) {
    return Promise.all(entry.files.map(function (f) {
      return shrink(f.blob).then(function (b) {
        return { name: f.name, blob: b, filename: b === f.blob ? f.filename : f.filename.replace(/\.[^.]*$/, "") + ".jpg" };
      });
    })).then(function (files) { entry.files = files; return entry; });
  }

  function queueForm(form) {
    var fields = [], files = [];
    var when = form.querySelector("[name=event_time]");
    if (when && !when.value) when.value = localNow();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "idem" || el.disabled) return;
      if (el.type === "file") {
        Array.prototype.forEach.call(el.files, function (f) { files.push({ name: el.name, blob: f, filename: f.name }); });
      } else if ((el.type !== "checkbox" && el.type !== "radio") || el.checked) {
        fields.push([el.name, el.value]);
      }
    });
    var step = form.querySelector("[name=step]");
    var label = (step ? step.options[step.selectedIndex].text : "") + " · " + (form.querySelector("[name=lot]") || {}).value;
    return { key: newKey(), action: form.action, fields: fields, files: files, label: label,
             captured: new Date().toISOString(), account: document.body.getAttribute("data-account") };
  }

  function onSubmit(ev) {
    var form = ev.target;
    if (!window.indexedDB || !window.Promise) return; // let the browser post the form itself
    ev.preventDefault();
    var entry = queueForm(form);
    shrinkAll(entry).then(put).then(show).then(drain).then(function (sent) {
      if (sent && sent.key === entry.key) {
        var lot = (form.querySelector("[name=lot]") || {}).value || "";
        window.location.href = PREFIX + "/lot?id=" + encodeURIComponent(lot) + "&recorded=1";
        return;
      }
      form.reset();
      var when = form.querySelector("[name=event_time]");
      if (when) when.value = localNow();
      var note = $("#queued");
      if (note) note.hidden = false;
    });
  }

  /* --- page set-up ----------------------------------------------------------------------- */
  function offlineBanner() { var el = $("#offline"); if (el) el.hidden = navigator.onLine; }

  function cacheForOffline() {
    if (!("serviceWorker" in navigator)) return;
    var urls = [window.location.pathname + window.location.search];
    document.querySelectorAll("a[data-step]").forEach(function (a) { urls.push(a.getAttribute("href")); });
    navigator.serviceWorker.ready.then(function (reg) { if (reg.active) reg.active.postMessage({ cache: urls }); });
  }

  /* Walk around the plot: each GPS fix becomes a corner; "finish" closes the ring into a GeoJSON
     Polygon in the form's plot_geojson field (the server computes its area). */
  function walk() {
    var start = $("[data-walk-start]"), stop = $("[data-walk-stop]"), out = $("#f-plot_geojson");
    var status = $("#walk-status");
    if (!start || !stop || !out || !navigator.geolocation) return;
    var points = [], watch = null;
    start.hidden = false;
    start.addEventListener("click", function () {
      points = [];
      start.hidden = true;
      stop.hidden = false;
      watch = navigator.geolocation.watchPosition(function (pos) {
        points.push([+pos.coords.longitude.toFixed(6), +pos.coords.latitude.toFixed(6)]);
        status.textContent = String(points.length);
      }, function () {}, { enableHighAccuracy: true, maximumAge: 0 });
    });
    stop.addEventListener("click", function () {
      if (watch !== null) navigator.geolocation.clearWatch(watch);
      stop.hidden = true;
      start.hidden = false;
      if (points.length >= 3) {
        out.value = JSON.stringify({ type: "Polygon", coordinates: [points.concat([points[0]])] });
      }
    });
  }

  function gps() {
    var btn = $("[data-gps]");
    if (!btn || !navigator.geolocation) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        $("#f-lat").value = pos.coords.latitude.toFixed(6);
        $("#f-lon").value = pos.coords.longitude.toFixed(6);
      }, function () {}, { enableHighAccuracy: true, timeout: 20000 });
    });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(PREFIX + "/sw.js", { scope: PREFIX + "/" }).catch(function () {});
  }
  var when = $("[data-now]");
  if (when && !when.value) when.value = localNow();
  var form = $("form[data-queue]");
  if (form) form.addEventListener("submit", onSubmit);
  var out = $("form[data-signout]");
  if (out) out.addEventListener("submit", function () { if (window.caches) caches.delete("ocop-console-v1"); });
  window.addEventListener("online", function () { offlineBanner(); drain(); });
  window.addEventListener("offline", offlineBanner);
  offlineBanner();
  gps();
  walk();
  cacheForOffline();
  if (window.indexedDB) { show().then(drain); setInterval(drain, 15000); }
})();
