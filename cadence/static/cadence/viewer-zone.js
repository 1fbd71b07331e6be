// Tell the server the viewer's time zone (a cookie), so windows show in the viewer's time too.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  if (window.rebootableZoneAsked) return; // ask once: a zone the server refuses cannot loop
  window.rebootableZoneAsked = true;
  document.querySelectorAll("[data-viewer-zone]").forEach(function (el) {
    if (el.getAttribute("data-viewer-zone") !== zone && window.htmx) {
      window.htmx.trigger(el, "zone-known");
    }
  });
})();
