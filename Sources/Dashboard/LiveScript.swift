// The dashboard's only script, served as /dashboard.js: it listens to /events and, when the
// queue or a running run's metrics change, fetches the same URL again and swaps the page's
// <main> for the new one (at most every 1.5 s; not while a filter field has the focus), so
// curves and the queue update without a reload. The charts' hover values need no script.
enum LiveScript {
    static let source = """
        (function () {
          "use strict";
          var live = document.getElementById("live");
          if (!live || !window.EventSource || !window.fetch) return;
          var feed = new EventSource("/events");
          var timer = null, busy = false, last = 0;
          function redraw() {
            timer = null;
            var active = document.activeElement;
            if (busy || (active && active.tagName === "INPUT" && active.type === "text")) { later(); return; }
            busy = true;
            fetch(location.href, { credentials: "same-origin" })
              .then(function (r) { return r.ok ? r.text() : null; })
              .then(function (html) {
                if (!html) return;
                var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
                var main = document.querySelector("main");
                if (!next || !main) return;
                var checked = {};
                main.querySelectorAll("input[type=checkbox]").forEach(function (c) { checked[c.id] = c.checked; });
                main.innerHTML = next.innerHTML;
                main.querySelectorAll("input[type=checkbox]").forEach(function (c) {
                  if (c.id in checked) c.checked = checked[c.id];
                });
                live.textContent = "live: updated " + new Date().toLocaleTimeString();
              })
              .catch(function () { live.textContent = "live: cannot reach the server"; })
              .then(function () { busy = false; last = Date.now(); });
          }
          function later() {
            if (!timer) timer = setTimeout(redraw, Math.max(300, 1500 - (Date.now() - last)));
          }
          feed.addEventListener("queue", later);
          feed.addEventListener("metric", later);
          feed.onopen = function () { live.textContent = "live"; };
          feed.onerror = function () { live.textContent = "live: reconnecting"; };
        })();
        """
}
