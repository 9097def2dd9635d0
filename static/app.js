// infradash: the little the dashboard needs beyond htmx, kept out of the page for a strict CSP.
(function () {
  "use strict";
  // Polling pauses while the tab is hidden: no requests nobody looks at.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (document.hidden && evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent &&
        evt.detail.requestConfig.triggeringEvent.type === "every") {
      evt.preventDefault();
    }
  });
})();
