// conpot-rs dashboard: keeps the page live. Events arrive over server-sent events and are
// written with textContent only (never as markup); the panels are re-fetched every second as
// HTML the server has already escaped.
"use strict";
(function () {
  const MAX_ROWS = 200;
  const list = document.getElementById("events");
  const live = document.getElementById("live");
  const fields = ["time", "type", "protocol", "src", "persona", "detail"];
  const source = new EventSource("/events");
  source.onopen = function () { live.textContent = "live"; live.className = "on"; };
  source.onerror = function () { live.textContent = "reconnecting…"; live.className = "off"; };
  source.onmessage = function (m) {
    let e;
    try { e = JSON.parse(m.data); } catch (_) { return; }
    const tr = document.createElement("tr");
    tr.className = "sse";
    tr.dataset.emitted = String(e.t);
    tr.dataset.received = String(Date.now());
    tr.dataset.type = String(e.type);
    for (const f of fields) {
      const td = document.createElement("td");
      td.textContent = e[f] === undefined ? "" : String(e[f]);
      if (f === "detail") { td.className = "detail"; }
      tr.appendChild(td);
    }
    list.insertBefore(tr, list.firstChild);
    while (list.children.length > MAX_ROWS) { list.removeChild(list.lastChild); }
  };
  const panels = document.getElementById("panels");
  setInterval(function () {
    fetch("/panels", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { panels.innerHTML = html; } })
      .catch(function () {});
  }, 1000);
})();
