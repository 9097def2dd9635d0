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

  // The age of the data is judged by the server's clock alone: the fragment carries the server's
  // time (data-now) with the sample's (data-collected-at), so a browser whose clock is off never
  // calls fresh data stale. The browser's clock only measures time since the last answer.
  var lastNow = "";
  var lastAnswer = Date.now();
  var pollFailed = false;

  function pollMs(live) {
    var ms = parseInt(live && live.getAttribute("data-poll-ms"), 10);
    return isNaN(ms) ? 5000 : ms;
  }

  function checkFreshness() {
    var live = document.getElementById("live");
    var n = notice();
    if (!live || !n) { return; }
    var now = live.getAttribute("data-now");
    if (now !== lastNow) {
      // A new fragment arrived: the server answered.
      lastNow = now;
      lastAnswer = Date.now();
      pollFailed = false;
    }
    var at = Date.parse(live.getAttribute("data-collected-at"));
    var serverNow = Date.parse(now);
    var maxAge = parseInt(live.getAttribute("data-max-age-ms"), 10);
    if (isNaN(at) || at <= 0) {
      show("No data yet: the collector has not taken its first sample.");
    } else if (serverNow - at > maxAge) {
      show("The data is stale: the last sample was taken at " +
        new Date(at).toISOString().slice(11, 19) + " UTC.");
    } else if (pollFailed) {
      // The failed poll's own message stays until an answer arrives.
    } else if (Date.now() - lastAnswer > 2 * pollMs(live)) {
      show("No answer from the server for " + Math.round((Date.now() - lastAnswer) / 1000) +
        " seconds; the numbers below may not be current.");
    } else {
      n.hidden = true;
    }
  }

  function failed(evt, text) {
    if (evt.detail.elt && evt.detail.elt.hasAttribute("data-poll")) {
      pollFailed = true;
    }
    show(text);
  }

  document.addEventListener("htmx:sendError", function (evt) {
    failed(evt, "The server cannot be reached; the numbers below are not current. Retrying every 5 seconds.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    failed(evt, "The server answered " + evt.detail.xhr.status + "; the numbers below are not current.");
  });
  document.addEventListener("htmx:afterSettle", checkFreshness);
  document.addEventListener("DOMContentLoaded", function () {
    checkFreshness();
    // Without any answer at all the data ages too; judge it between polls as well.
    setInterval(checkFreshness, 5000);
  });
})();
