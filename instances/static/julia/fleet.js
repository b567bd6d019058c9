/* Julia Monitor fleet pages: our own small script, no libraries.
 *
 * 1. Any element with data-refresh-url and data-refresh-seconds is refreshed in place, keeping
 *    scroll positions and focus, and #updated-at says "Atualizado às HH:MM:SS" (the server's
 *    clock, from the partial's data-updated) or, when the portal cannot be reached, "Sem conexão
 *    com o portal desde HH:MM:SS" while the last data stays on screen. The request names the
 *    version the page shows (data-version); the answer is either the whole part
 *    (data-mode="full", swapped in) or, for the overview, its summary plus only the rows that
 *    changed (data-mode="diff": <template id="fleet-changes"> rows, each with data-after naming
 *    the row it now follows, #fleet-removed, and #fleet-forecasts: the new words of a forecast
 *    that alone moved in a row). A diff that does not fit the table on screen
 *    asks again for the whole part. Each row's last message age ("há 3 min") is said again at
 *    every refresh from its data-at and the server's clock (data-now, both in ms), the way
 *    julia_monitor/lib/text.py's ago() says it: a row is not sent only because its age in
 *    words changed.
 * 2. A pending reconnection (#reconnect[data-reconnect-pending]) polls the instance's state
 *    endpoint until it reports "connected", then says so and reloads the status area.
 *
 * An expired session (a redirect to the login page, 401 or 403) reloads the page, which then
 * lands on the login page.
 */
(function () {
  "use strict";

  var FETCH_OPTIONS = {
    credentials: "same-origin",
    redirect: "manual",
    cache: "no-store",
    headers: { "X-Requested-With": "fetch" }
  };
  var RECONNECT_GIVE_UP_MS = 10 * 60 * 1000;

  function sessionExpired(response) {
    return response.type === "opaqueredirect" || response.status === 401 || response.status === 403 ||
      (response.status >= 300 && response.status < 400);
  }

  // Fetch a URL; resolve with the response, reload the page if the session is gone.
  function get(url, accept) {
    var options = Object.assign({}, FETCH_OPTIONS, { headers: Object.assign({ Accept: accept }, FETCH_OPTIONS.headers) });
    return fetch(url, options).then(function (response) {
      if (sessionExpired(response)) {
        window.location.reload();
        throw new Error("session expired");
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response;
    });
  }

  // Change a container's content with change(), keeping the page's and every table's scroll
  // position and the keyboard focus on the same link.
  function keepingView(container, change) {
    var scrollX = window.scrollX, scrollY = window.scrollY;
    var sideways = {};
    container.querySelectorAll("[id]").forEach(function (el) {
      if (el.scrollLeft) { sideways[el.id] = el.scrollLeft; }
    });
    var focused = document.activeElement;
    var focusHref = focused && container.contains(focused) ? focused.getAttribute("href") : null;

    var result = change();

    Object.keys(sideways).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.scrollLeft = sideways[id]; }
    });
    if (focusHref && !container.contains(document.activeElement)) {
      var again = container.querySelector('a[href="' + CSS.escape(focusHref) + '"]');
      if (again) { again.focus({ preventScroll: true }); }
    }
    window.scrollTo(scrollX, scrollY);
    return result;
  }

  function swap(container, html) {
    keepingView(container, function () { container.innerHTML = html; });
  }

  // Put a diff's rows in the table: drop the rows gone and the old copies of the changed ones,
  // then place each changed row after the row it follows now (in order, so that row is there).
  // Return false when the table on screen is not the one the diff was made against.
  function placeRows(tbody, rows, removed) {
    var byName = new Map();
    Array.prototype.forEach.call(tbody.rows, function (tr) { byName.set(tr.getAttribute("data-instance"), tr); });
    removed.concat(rows).forEach(function (el) {
      var name = el.getAttribute("data-instance");
      var old = byName.get(name);
      if (old) { old.remove(); byName.delete(name); }
    });
    for (var i = 0; i < rows.length; i++) {
      var tr = rows[i];
      var after = tr.getAttribute("data-after");
      tr.removeAttribute("data-after");
      if (after === "") {
        tbody.prepend(tr);
      } else {
        var previous = byName.get(after);
        if (!previous) { return false; }
        previous.after(tr);
      }
      byName.set(tr.getAttribute("data-instance"), tr);
    }
    return true;
  }

  // Put each forecast that alone moved in its row ("" removes it); false when a row is missing.
  function patchForecasts(tbody, patches) {
    for (var i = 0; i < patches.length; i++) {
      var name = patches[i].getAttribute("data-instance");
      var row = tbody.querySelector('tr[data-instance="' + CSS.escape(name) + '"]');
      var cell = row && row.querySelector('[data-col="day"]');
      if (!cell) { return false; }
      var words = patches[i].textContent;
      var shown = cell.querySelector('[data-field="forecast"]');
      if (!words) {
        if (shown) { shown.remove(); }
      } else if (shown) {
        shown.textContent = words;
      } else {
        shown = document.createElement("span");
        shown.className = "forecast";
        shown.setAttribute("data-field", "forecast");
        shown.textContent = words;
        cell.appendChild(shown);
      }
    }
    return true;
  }

  // Apply a refresh's answer; return false when a diff cannot be applied (ask for everything).
  function apply(container, html) {
    var incoming = document.createElement("div");
    incoming.innerHTML = html;
    var body = incoming.querySelector(".live-body");
    if (!body || body.getAttribute("data-mode") !== "diff") {
      keepingView(container, function () { container.replaceChildren.apply(container, Array.from(incoming.childNodes)); });
      return true;
    }
    var current = container.querySelector(".live-body");
    var summary = container.querySelector("#fleet-summary");
    var tbody = container.querySelector("#fleet-table tbody");
    var changes = body.querySelector("#fleet-changes");
    var rows = changes ? Array.from(changes.content.querySelectorAll("tr[data-instance]")) : [];
    var removed = Array.from(body.querySelectorAll("#fleet-removed [data-instance]"));
    var forecasts = Array.from(body.querySelectorAll("#fleet-forecasts [data-instance]"));
    if (!current || !summary || ((rows.length || removed.length || forecasts.length) && !tbody)) { return false; }
    return keepingView(container, function () {
      if (tbody && !(placeRows(tbody, rows, removed) && patchForecasts(tbody, forecasts))) { return false; }
      summary.replaceChildren.apply(summary, Array.from(body.querySelector("#fleet-summary").childNodes));
      current.setAttribute("data-updated", body.getAttribute("data-updated"));
      current.setAttribute("data-now", body.getAttribute("data-now"));
      current.setAttribute("data-version", body.getAttribute("data-version"));
      return true;
    });
  }

  // text.py's span() and ago(), in the browser: "agora", "há 40 s", "há 3 min", "há 2 h 5 min", "há 3 d 4 h".
  var JUST_NOW_MS = 10 * 1000;
  function span(seconds) {
    seconds = Math.max(Math.floor(seconds), 0);
    if (seconds < 60) { return seconds + " s"; }
    var minutes = Math.floor(seconds / 60);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    minutes = minutes % 60;
    if (days) { return hours ? days + " d " + hours + " h" : days + " d"; }
    if (hours) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    return minutes + " min";
  }

  function sayAges(container) {
    var body = container.querySelector("[data-now]");
    var now = body ? Number(body.getAttribute("data-now")) : NaN;
    if (isNaN(now)) { return; }
    container.querySelectorAll("td[data-at]").forEach(function (el) {
      var age = now - Number(el.getAttribute("data-at"));
      if (isNaN(age)) { return; }
      var words = age < JUST_NOW_MS ? "agora" : "há " + span(age / 1000);
      if (el.textContent !== words) { el.textContent = words; }
    });
  }

  function versionOf(container) {
    var body = container.querySelector("[data-version]");
    return body ? body.getAttribute("data-version") : "";
  }

  function withVersion(url, version) {
    if (!version) { return url; }
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "versao=" + encodeURIComponent(version);
  }

  function updatedAt(container) {
    var marked = container.querySelector("[data-updated]");
    return marked ? marked.getAttribute("data-updated") : null;
  }

  // --- 1. Refreshing parts ----------------------------------------------------------------

  function startRefresh(container) {
    var url = container.getAttribute("data-refresh-url");
    var seconds = parseFloat(container.getAttribute("data-refresh-seconds"));
    var label = document.getElementById("updated-at");
    var lastGood = updatedAt(container);
    var inFlight = false;
    var timer = null;

    function say(state, text) {
      if (!label) { return; }
      label.setAttribute("data-state", state);
      label.textContent = text;
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(tick, seconds * 1000);
    }

    function tick() {
      if (document.hidden) { return; } // resumed by visibilitychange
      if (inFlight) { return schedule(); }
      inFlight = true;
      get(withVersion(url, versionOf(container)), "text/html")
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (apply(container, html)) { return; }
          return get(url, "text/html")  // the table on screen is not the diff's: take it whole
            .then(function (response) { return response.text(); })
            .then(function (whole) { apply(container, whole); });
        })
        .then(function () {
          sayAges(container);
          lastGood = updatedAt(container) || lastGood;
          say("ok", "Atualizado às " + lastGood);
        })
        .catch(function () {
          say("offline", "Sem conexão com o portal desde " + lastGood);
        })
        .then(function () {
          inFlight = false;
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { tick(); }
    });
    schedule();
  }

  // --- 2. Waiting for a reconnection --------------------------------------------------------

  function reloadStatusArea() {
    var area = document.getElementById("instance-status");
    var url = area && area.getAttribute("data-refresh-url");
    if (!url) { return Promise.resolve(); }
    return get(url, "text/html")
      .then(function (response) { return response.text(); })
      .then(function (html) { swap(area, html); });
  }

  function watchReconnect(box) {
    var url = box.getAttribute("data-state-url");
    var seconds = parseFloat(box.getAttribute("data-poll-seconds")) || 3;
    var line = document.getElementById("reconnect-state");
    var started = Date.now();

    function say(state, text) {
      if (!line) { return; }
      line.setAttribute("data-state", state);
      line.textContent = text;
    }

    function poll() {
      if (Date.now() - started > RECONNECT_GIVE_UP_MS) {
        box.setAttribute("data-reconnect-pending", "false");
        say("error", "Ainda não conectada. O QR code deve ter expirado: use Reconectar de novo.");
        return;
      }
      get(url, "application/json")
        .then(function (response) { return response.json(); })
        .then(function (state) {
          if (state.status === "connected") {
            box.setAttribute("data-reconnect-pending", "false");
            say("connected", "Conectada de novo ✔");
            var qr = document.getElementById("reconnect-qr");
            if (qr) { qr.hidden = true; }
            reloadStatusArea().catch(function () { /* the next visit shows it */ });
            return;
          }
          say("waiting", "Aguardando a conexão… status agora: " + state.emoji + " " + state.status_display);
          setTimeout(poll, seconds * 1000);
        })
        .catch(function () {
          say("waiting", "Sem resposta do portal; tentando de novo…");
          setTimeout(poll, seconds * 1000);
        });
    }

    setTimeout(poll, seconds * 1000);
  }

  function start() {
    document.querySelectorAll("[data-refresh-url][data-refresh-seconds]").forEach(startRefresh);
    document.querySelectorAll('[data-reconnect-pending="true"]').forEach(watchReconnect);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
