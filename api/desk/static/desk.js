// The desk works without this script. With it: regions marked data-live refresh
// themselves every data-refresh seconds, and a form's button is disabled once pressed.
(function () {
  "use strict";

  function freshUrl() {
    var url = new URL(window.location.href);
    url.searchParams.delete("min_position");
    url.searchParams.delete("done");
    return url.toString();
  }

  function busy(region) {
    var active = document.activeElement;
    return active && region.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName);
  }

  function refresh() {
    fetch(freshUrl(), { credentials: "same-origin", headers: { "X-Desk-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          var fresh = doc.querySelector('[data-live="' + region.dataset.live + '"]');
          if (fresh && !busy(region) && fresh.innerHTML !== region.innerHTML) {
            region.innerHTML = fresh.innerHTML;
          }
        });
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  function openTarget() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
  }

  // A region marked data-include="URL" is replaced by that page's [data-fragment]: a
  // slow part (a 12-month trend) comes after the page, which links to it without script.
  function include(region) {
    fetch(region.dataset.include, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var part = doc.querySelector("[data-fragment]");
        if (part) { region.outerHTML = part.innerHTML; }
      })
      .catch(function () { /* the link inside the region still leads there */ });
  }

  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", function () {
    openTarget();
    document.querySelectorAll("[data-include]").forEach(include);
    var timed = document.querySelector("[data-refresh]");
    var seconds = timed ? parseInt(timed.dataset.refresh, 10) : 0;
    if (seconds > 0) { window.setInterval(refresh, seconds * 1000); }
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) {
          window.setTimeout(function () { b.disabled = true; }, 0);
        });
      });
    });
  });
})();
