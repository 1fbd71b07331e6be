// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // <time datetime> values are rendered in UTC; add the viewer's local time to the tooltip.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.dataset.local = "1";
      var local = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      });
      if (el.hasAttribute("data-abs")) {
        // Absolute times read in the viewer's zone; UTC (and how long ago) stay on hover.
        el.title = el.textContent + (el.title ? "\n" + el.title : "");
        el.textContent = local;
        return;
      }
      el.title = (el.title ? el.title + "\n" : "") + local;
    });
  }

  // "Select all" checkboxes: <input type="checkbox" data-check-all="host"> toggles name="host".
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-check-all]")) return;
    var table = box.closest("table") || document;
    var name = box.getAttribute("data-check-all");
    table.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (el) {
      el.checked = box.checked;
    });
  });

  // Behaviour declared in data attributes, bound here: the Content-Security-Policy runs no
  // inline handlers (onclick=, onchange=).
  // <button data-confirm="Remove this freeze?">: ask before the form is sent.
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
  });
  // <button data-print>: print the page.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("button[data-print]")) window.print();
  });
  // <select data-autosubmit>: a new choice sends its form (the submit button stays for no-JS).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.requestSubmit();
  });

  // Keep pushed URLs short and shareable: drop empty filter fields from GET requests.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") return;
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "") delete params[key];
    });
  });

  // A failed htmx request must not fail silently: say what happened.
  function showRequestError(text) {
    var el = document.getElementById("request-error");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(showRequestError.timer);
    showRequestError.timer = setTimeout(function () { el.hidden = true; }, 8000);
  }
  // Error pages carry their message in [data-error-message] (config/error_views.py); say that.
  function errorMessage(xhr) {
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") !== 0) return "";
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var el = doc.querySelector("[data-error-message]");
    return el ? el.textContent.replace(/\s+/g, " ").trim() : "";
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = errorMessage(xhr);
    if (message) return showRequestError(message);
    var reason = xhr.status === 403 ? "you are not allowed to do that" : "the server answered " + xhr.status;
    showRequestError("Request failed: " + reason + ".");
  });
  document.addEventListener("htmx:sendError", function () {
    showRequestError("Request failed: the server could not be reached.");
  });

  // Close an open <details> menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // A success flash says what just happened; it must not linger as if still news (a "Rollout
  // resumed." next to a rollout that has since completed). Errors and warnings stay.
  function fadeSuccess(root) {
    root.querySelectorAll(".flash-success:not([data-fading])").forEach(function (el) {
      el.dataset.fading = "1";
      setTimeout(function () { el.remove(); }, 10000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    fadeSuccess(document);
  });
  document.addEventListener("htmx:afterSettle", function () {
    localiseTimes(document);
    fadeSuccess(document);
  });
  // Out-of-band swaps (the flash beside a fragment) settle without afterSettle on the target.
  document.addEventListener("htmx:oobAfterSwap", function () { fadeSuccess(document); });
})();
