// Micro Platform dashboard: the live parts of server-rendered pages. Every request goes to
// the platform's own API with the session cookie; changes carry the CSRF token from its
// cookie in X-CSRF-Token. Pages work without this script (forms post and redirect).
"use strict";

(function () {
  document.documentElement.classList.add("js");

  function csrf() {
    var name = document.body.dataset.csrfCookie + "=";
    var parts = document.cookie.split("; ");
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf(name) === 0) return decodeURIComponent(parts[i].slice(name.length));
    }
    return "";
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }
  // Names come from the tenant's registry: quote anything a shell would not take as is.
  function shellArg(s) { return /^[A-Za-z0-9._\/:@%+=-]+$/.test(s) ? s : shellQuote(s); }

  function ago(iso) {
    var d = (Date.now() - new Date(iso).getTime()) / 1000;
    if (d < 5) return "just now";
    if (d < 60) return Math.floor(d) + "s ago";
    if (d < 3600) return Math.floor(d / 60) + "m ago";
    return Math.floor(d / 3600) + "h ago";
  }

  // The API's error body: {"error": {"code", "message", "hint"}}.
  function apiError(status, body) {
    try {
      var e = JSON.parse(body).error;
      return e.message + (e.hint ? "\n" + e.hint : "");
    } catch (_) {
      return "HTTP " + status + ": " + body;
    }
  }

  // ---- switchers --------------------------------------------------------------------
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { if (s.value) s.form.submit(); });
  });
  document.querySelectorAll("select[data-autosubmit-any]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  document.querySelectorAll("[data-select]").forEach(function (i) {
    i.addEventListener("focus", function () { i.select(); });
  });

  // afterPaint runs fn once the page has painted the frame after this one (a task after
  // the next animation frame), or after a second in a tab that gets no frames.
  function afterPaint(fn) {
    var done = false;
    function run() { if (!done) { done = true; fn(); } }
    requestAnimationFrame(function () { setTimeout(run, 0); });
    setTimeout(run, 1000);
  }

  // ---- services' sparklines, fetched after the page painted --------------------------
  // The fragment reads every service's metrics on the server: asked before the table has
  // painted, that work would compete with the paint for the same machine.
  document.querySelectorAll("table[data-activity-src]").forEach(function (table) {
    afterPaint(function () { sparklines(table); });
  });
  function sparklines(table) {
    fetch(table.dataset.activitySrc, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll("[data-activity]").forEach(function (a) {
        var name = a.dataset.activity;
        [["requests", "data-spark-requests"], ["errors", "data-spark-errors"]].forEach(function (k) {
          var cell = table.querySelector("[" + k[1] + '="' + CSS.escape(name) + '"]');
          var src = a.querySelector("[data-" + k[0] + "]");
          if (!cell || !src) return;
          cell.classList.remove("muted");
          cell.replaceChildren.apply(cell, Array.prototype.slice.call(document.importNode(src, true).childNodes));
        });
      });
    });
  }

  // ---- call forms -------------------------------------------------------------------
  function setPath(obj, path, value) {
    var keys = path.split(".");
    var o = obj;
    for (var i = 0; i < keys.length - 1; i++) {
      if (typeof o[keys[i]] !== "object" || o[keys[i]] === null) o[keys[i]] = {};
      o = o[keys[i]];
    }
    o[keys[keys.length - 1]] = value;
  }
  function getPath(obj, path) {
    var keys = path.split(".");
    var o = obj;
    for (var i = 0; i < keys.length; i++) {
      if (o === null || typeof o !== "object") return undefined;
      o = o[keys[i]];
    }
    return o;
  }

  document.querySelectorAll("form[data-call]").forEach(function (form) {
    var body = form.querySelector("[data-body]");
    var out = form.querySelector("[data-response]");
    var cli = form.querySelector("[data-cli]");
    var curl = form.querySelector("[data-curl]");
    var elapsed = form.querySelector("[data-elapsed]");
    var inputs = form.querySelectorAll("[data-path]");
    var gateway = curl.dataset.gateway || window.location.origin;
    var ns = form.dataset.ns, svc = form.dataset.service, ep = form.dataset.endpoint;

    function compact() {
      try { return JSON.stringify(JSON.parse(body.value || "{}")); } catch (_) { return body.value; }
    }
    function lines() {
      var b = compact();
      cli.textContent = "platform call " + shellArg(svc) + " " + shellArg(ep) + " " + shellQuote(b) + " -n " + ns;
      curl.textContent = "curl -H \"Authorization: Bearer $TOKEN\" -H 'Micro-Namespace: " + ns + "' -d " +
        shellQuote(b) + " " + shellArg(gateway + "/api/" + svc + "/" + ep);
    }
    // Fields fill from the body (its example), and write into it as they change.
    function fromBody() {
      var obj;
      try { obj = JSON.parse(body.value || "{}"); } catch (_) { return; }
      inputs.forEach(function (i) {
        var v = getPath(obj, i.dataset.path);
        if (i.dataset.kind === "checkbox") i.checked = v === true;
        else if (i.dataset.kind === "json") i.value = v === undefined ? "" : JSON.stringify(v);
        else i.value = v === undefined || v === null ? "" : String(v);
      });
    }
    function toBody(ev) {
      var obj;
      try { obj = JSON.parse(body.value || "{}"); } catch (_) { obj = {}; }
      var i = ev.target, v;
      switch (i.dataset.kind) {
        case "checkbox": v = i.checked; break;
        case "number": v = i.value === "" ? 0 : Number(i.value); break;
        case "json":
          if (i.value === "") { v = undefined; break; }
          try { v = JSON.parse(i.value); i.setCustomValidity(""); } catch (_) { i.setCustomValidity("not valid JSON"); return; }
          break;
        default: v = i.value;
      }
      setPath(obj, i.dataset.path, v);
      body.value = JSON.stringify(obj, null, 2);
      lines();
    }
    inputs.forEach(function (i) { i.addEventListener("input", toBody); i.addEventListener("change", toBody); });
    body.addEventListener("input", function () { fromBody(); lines(); });
    fromBody();
    lines();

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var req;
      try { req = JSON.parse(body.value || "{}"); } catch (e) {
        out.textContent = "The request body is not valid JSON: " + e.message;
        return;
      }
      out.textContent = "Calling…";
      var t0 = performance.now();
      fetch("/v1/namespaces/" + encodeURIComponent(ns) + "/call", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ service: svc, endpoint: ep, request: req })
      }).then(function (resp) {
        return resp.text().then(function (text) {
          elapsed.textContent = resp.status + " in " + Math.round(performance.now() - t0) + " ms";
          if (!resp.ok) { out.textContent = apiError(resp.status, text); out.classList.add("failed"); return; }
          out.classList.remove("failed");
          try { out.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { out.textContent = text; }
        });
      }).catch(function (e) { out.textContent = "The call did not reach the platform: " + e.message; });
    });
  });

  // ---- live log tail ----------------------------------------------------------------
  // Lines arrive over SSE into a bounded ring; the view holds at most WINDOW rows and is
  // updated once per animation frame, so a fast service cannot grow the page or block it.
  // Once the view is full, a new line reuses the row that scrolls out rather than making
  // one, and the ring is trimmed TRIM lines at a time (one at a time moved the whole ring
  // for every line). A frame shows everything that arrived since the last one: each
  // layout of the view pays for all its rows, so spreading a burst over several frames
  // made more layouts and more work in all, without shorter frames.
  var RING = 20000, WINDOW = 1000, TRIM = 1000;
  document.querySelectorAll("form[data-logs]").forEach(function (form) {
    var view = document.querySelector("[data-log-view]");
    var state = form.querySelector("[data-log-state]");
    var search = form.querySelector("[data-log-search]");
    var instance = form.querySelector("[data-log-instance]");
    var region = form.querySelector("[data-log-region]");
    var pause = form.querySelector("[data-log-pause]");
    // pending holds the matching lines not shown yet, oldest first, at most WINDOW + TRIM.
    var ring = [], pending = [], paused = false, scheduled = false, es = null, received = 0, dropped = 0;
    var query = search.value.toLowerCase();
    form.addEventListener("submit", function (ev) { ev.preventDefault(); });

    function matches(e) {
      if (instance.value && e.instance !== instance.value) return false;
      if (query && e.line.toLowerCase().indexOf(query) < 0) return false;
      return true;
    }
    function meta(e) {
      return new Date(e.time).toISOString().slice(11, 23) + " " + e.instance.slice(-6) + (e.region ? " " + e.region : "") + " ";
    }
    // row shows e in d, a row that scrolled out, or in a new row when d is null.
    function row(e, d) {
      var cls = "l" + (e.stream === "stderr" ? " stderr" : "");
      if (!d) {
        d = el("div", cls);
        d.appendChild(el("span", "m", meta(e)));
        d.appendChild(document.createTextNode(e.line));
        return d;
      }
      if (d.className !== cls) d.className = cls;
      d.firstChild.textContent = meta(e);
      d.lastChild.nodeValue = e.line;
      return d;
    }
    function atBottom() { return view.scrollHeight - view.scrollTop - view.clientHeight < 40; }
    function flush() {
      scheduled = false;
      if (paused || pending.length === 0) return;
      var stick = atBottom();
      if (pending.length > WINDOW) pending = pending.slice(pending.length - WINDOW);
      var batch = pending;
      pending = [];
      var reuse = view.childElementCount + batch.length - WINDOW;
      var frag = document.createDocumentFragment();
      for (var i = 0; i < batch.length; i++) frag.appendChild(row(batch[i], i < reuse ? view.firstElementChild : null));
      view.appendChild(frag);
      if (stick) view.scrollTop = view.scrollHeight;
      status();
    }
    function schedule() { if (!scheduled) { scheduled = true; requestAnimationFrame(flush); } }
    // Re-render the window from the ring (a filter changed).
    function rerender() {
      query = search.value.toLowerCase();
      view.textContent = "";
      pending = ring.filter(matches);
      if (pending.length > WINDOW) pending = pending.slice(pending.length - WINDOW);
      schedule();
    }
    function status(text) {
      state.textContent = text || ((paused ? "Paused · " : "Live · ") + received + " lines" + (dropped ? " (" + dropped + " oldest dropped)" : ""));
    }
    function connect() {
      if (es) es.close();
      ring = []; pending = []; view.textContent = "";
      var url = form.dataset.src + "?follow=true&tail=200" + (region.value ? "&region=" + encodeURIComponent(region.value) : "");
      es = new EventSource(url);
      status("Connecting…");
      es.addEventListener("open", function () { status(); });
      es.addEventListener("log", function (m) {
        var e = JSON.parse(m.data);
        received++;
        ring.push(e);
        if (ring.length >= RING + TRIM) { dropped += ring.length - RING; ring.splice(0, ring.length - RING); }
        // While paused, Resume re-renders from the ring.
        if (paused || !matches(e)) return;
        pending.push(e);
        if (pending.length >= WINDOW + TRIM) pending.splice(0, pending.length - WINDOW);
        schedule();
      });
      es.addEventListener("error", function (m) {
        if (m.data) { status(apiError(0, m.data)); es.close(); return; }
        status("Reconnecting…");
      });
      es.addEventListener("end", function () { status("The stream ended."); es.close(); });
    }
    search.addEventListener("input", rerender);
    instance.addEventListener("change", rerender);
    region.addEventListener("change", connect);
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) rerender(); else status();
    });
    connect();
  });

  // ---- events -----------------------------------------------------------------------
  document.querySelectorAll("table[data-events]").forEach(function (table) {
    var tbody = table.querySelector("tbody");
    var since = table.dataset.since ? new Date(table.dataset.since).getTime() - 1000 : 0;
    var src = table.dataset.src + (table.dataset.after && table.dataset.after !== "0" ? "&after=" + table.dataset.after : "");
    var es = new EventSource(src);
    es.addEventListener("event", function (m) {
      var e = JSON.parse(m.data);
      if (since && new Date(e.time).getTime() < since) return;
      var tr = el("tr");
      var td = el("td"), t = el("time", "", ago(e.time));
      t.setAttribute("datetime", e.time);
      td.appendChild(t);
      tr.appendChild(td);
      var code = el("code", "", e.type), tdc = el("td");
      tdc.appendChild(code);
      tr.appendChild(tdc);
      tr.appendChild(el("td", "", e.service || ""));
      tr.appendChild(el("td", "", e.region || ""));
      tr.appendChild(el("td", "", e.message));
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.childElementCount > 500) tbody.removeChild(tbody.lastElementChild);
      var empty = document.querySelector("[data-empty]");
      if (empty) empty.remove();
    });
    es.addEventListener("error", function (m) { if (m.data) es.close(); });
  });

  // ---- build output -----------------------------------------------------------------
  document.querySelectorAll("[data-buildlog]").forEach(function (pre) {
    var es = new EventSource(pre.dataset.src);
    var started = false;
    es.addEventListener("line", function (m) {
      if (!started) { pre.textContent = ""; started = true; }
      var stick = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      pre.appendChild(document.createTextNode(JSON.parse(m.data) + "\n"));
      if (stick) pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("end", function () { es.close(); });
    es.addEventListener("error", function (m) { if (m.data) { pre.appendChild(document.createTextNode(apiError(0, m.data) + "\n")); } es.close(); });
  });

  // ---- release progress -------------------------------------------------------------
  var terminal = { live: true, failed: true, superseded: true, canary: true };
  var hints = {
    build: "The build failed: the output below shows the compiler's message. Fix the code and deploy again; what served before keeps serving.",
    rollout: "The new instances did not become healthy: the service's logs show why (a crash, a missing environment variable, a port it could not bind). What served before keeps serving; fix it and deploy again, or roll back."
  };
  document.querySelectorAll("[data-release]").forEach(function (sec) {
    var statusEl = document.querySelector("[data-release-status]");
    var reason = sec.querySelector("[data-release-reason]");
    var steps = { build: sec.querySelector('[data-step="build"]'), rollout: sec.querySelector('[data-step="rollout"]'), live: sec.querySelector('[data-step="live"]') };
    function classes(rel) {
      var at = { pending: 0, building: 0, rolling_out: 1, live: 3, superseded: 3, canary: 3 }[rel.status];
      var failedAt = -1;
      if (rel.status === "failed") { at = rel.artifact ? 1 : 0; failedAt = at; }
      ["build", "rollout", "live"].forEach(function (name, i) {
        steps[name].className = i === failedAt ? "failed" : i < at ? "done" : i === at ? "current" : "waiting";
      });
    }
    // A release that failed to roll out shows what its instances printed last: the
    // crash, the missing variable, the port it could not bind.
    var crashShown = false;
    function crashOutput(rel) {
      if (crashShown || rel.status !== "failed" || !rel.artifact) return;
      crashShown = true;
      var box = sec.querySelector("[data-crash]"), pre = box.querySelector("pre");
      fetch(pre.dataset.crashSrc, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
        if (!body || !body.logs || body.logs.length === 0) return;
        pre.textContent = body.logs.map(function (e) { return e.instance.slice(-6) + " " + e.line; }).join("\n");
        box.hidden = false;
      });
    }
    function poll() {
      fetch(sec.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (rel) {
        if (!rel) return;
        classes(rel);
        statusEl.innerHTML = "";
        statusEl.appendChild(el("span", "status status-" + rel.status, rel.status));
        if (rel.reason) {
          reason.hidden = false;
          reason.querySelector("p").textContent = rel.reason;
          reason.querySelector("[data-release-hint]").textContent = rel.status === "failed" ? hints[rel.artifact ? "rollout" : "build"] : "";
        }
        crashOutput(rel);
        if (!terminal[rel.status]) setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    }
    if (!terminal[sec.dataset.status] || sec.dataset.status === "failed") poll();
  });
})();
