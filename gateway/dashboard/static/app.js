// Live numbers: one EventSource; each message maps data-live keys to display text.
// The server formats everything; this file only places text and bar widths.
(function () {
  var url = document.body.dataset.liveStream;
  if (!url || !window.EventSource) return;
  var dot = document.querySelector("[data-live-indicator]");
  var es = new EventSource(url);
  es.addEventListener("open", function () { if (dot) dot.dataset.on = "1"; });
  es.addEventListener("error", function () { if (dot) dot.dataset.on = "0"; });
  es.addEventListener("expired", function () { es.close(); location.reload(); });
  es.addEventListener("snapshot", function (ev) {
    var v = JSON.parse(ev.data).values;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var t = v[el.dataset.live];
      if (t === undefined || el.textContent === t) return;
      el.textContent = t;
      if (el.hasAttribute("data-live-state")) el.dataset.state = t;
      el.classList.remove("changed"); void el.offsetWidth; el.classList.add("changed");
    });
    // markup rendered by the server (rows, charts); never built from strings here
    document.querySelectorAll("[data-live-html]").forEach(function (el) {
      var h = v[el.dataset.liveHtml];
      if (h !== undefined) el.innerHTML = h;
    });
    document.querySelectorAll("[data-live-width]").forEach(function (el) {
      var w = v[el.dataset.liveWidth];
      if (w !== undefined) el.setAttribute("width", w);
      var after = el.dataset.after && v[el.dataset.after];
      if (after !== undefined && after !== null && after !== "") el.setAttribute("x", after);
    });
    document.querySelectorAll("[data-stale-key]").forEach(function (el) {
      var t = v[el.dataset.staleKey];
      if (t !== undefined && t !== el.dataset.staleValue) el.hidden = false;
    });
  });
})();
