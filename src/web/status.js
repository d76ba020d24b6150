// Live updates: when /api/v1/events reports something, fetch this page
// again and swap its <main>; every half minute too, as time moves.
(function () {
  var me = document.currentScript, body = document.body, timer = null;
  if (!window.EventSource || !window.fetch || !window.DOMParser) return;
  function refresh() {
    timer = null;
    fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["live", "status"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(fresh);
        });
        document.title = doc.title;
        body.dataset.refreshed = String(Date.now());
      })
      .catch(function () { body.dataset.live = "off"; });
  }
  function soon() { if (!timer) timer = setTimeout(refresh, 250); }
  var es = new EventSource(me.dataset.events);
  es.onopen = function () { body.dataset.live = "on"; };
  es.onerror = function () { body.dataset.live = "off"; };
  es.onmessage = soon;
  setInterval(soon, 30000);
})();
