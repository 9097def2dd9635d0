// infradash: the little the dashboard needs beyond htmx, kept out of the page for a strict CSP.
(function () {
  "use strict";

  // Polled elements carry data-poll. htmx calls their poll handler without an event, so the
  // pause is decided on the element: no request while nobody looks at the tab.
  document.addEventListener("htmx:confirm", function (evt) {
    if (document.hidden && evt.detail.elt.hasAttribute("data-poll")) {
      evt.preventDefault();
    }
  });

  // Leaving the tab cancels polls under way; coming back refreshes at once instead of showing
  // numbers up to five seconds old.
  document.addEventListener("visibilitychange", function () {
    document.querySelectorAll("[data-poll]").forEach(function (elt) {
      if (document.hidden) {
        htmx.trigger(elt, "htmx:abort");
      } else {
        htmx.trigger(elt, "refresh");
      }
    });
  });

  function notice() { return document.getElementById("stale-notice"); }

  function show(text) {
    var n = notice();
    if (!n) { return; }
    n.textContent = text;
    n.hidden = false;
  }

  // checkFreshness shows the notice when the live data is older than two collection intervals
  // (the server went on answering but the collector stopped), and hides it otherwise.
  function checkFreshness() {
    var live = document.getElementById("live");
    var n = notice();
    if (!live || !n) { return; }
    var at = Date.parse(live.getAttribute("data-collected-at"));
    var maxAge = parseInt(live.getAttribute("data-max-age-ms"), 10);
    if (isNaN(at) || at <= 0) {
      show("No data yet: the collector has not taken its first sample.");
    } else if (Date.now() - at > maxAge) {
      show("The data is stale: the last sample was taken at " +
        new Date(at).toISOString().slice(11, 19) + " UTC.");
    } else {
      n.hidden = true;
    }
  }

  document.addEventListener("htmx:sendError", function () {
    show("The server cannot be reached; the numbers below are not current. Retrying every 5 seconds.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    show("The server answered " + evt.detail.xhr.status + "; the numbers below are not current.");
  });
  document.addEventListener("htmx:afterSettle", checkFreshness);
  document.addEventListener("DOMContentLoaded", function () {
    checkFreshness();
    // Without any answer at all the data ages too; judge it between polls as well.
    setInterval(checkFreshness, 5000);
  });
})();
