// Guahao patient web app: the hold countdown and htmx's CSRF header. Everything works without it.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (e) {
    var token = document.querySelector("meta[name=csrf-token]");
    if (token) e.detail.headers["X-CSRFToken"] = token.content;
  });
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, parseInt(el.getAttribute("data-countdown"), 10) - Math.floor((Date.now() - started) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor(left / 60) % 60, s = left % 60;
      var mm = h ? (m < 10 ? "0" : "") + m : String(m);  // 14:59, or 1:59:36 for an hour or more
      el.textContent = (h ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
      if (left === 0 && !el.dataset.done) { el.dataset.done = "1"; setTimeout(function () { location.reload(); }, 1500); }
    });
  }
  // A patient's sex and birth date: asked only for documents that do not carry them.
  function carried(select) {
    var set = select.form && select.form.querySelector("[data-carried]");
    if (!set) return;
    var empty = [].every.call(set.querySelectorAll("select, input"), function (el) { return !el.value; });
    set.hidden = select.value === "resident" && empty;
  }
  // The number's hint follows the document chosen (a passport's is not a resident card's).
  function hinted(select) {
    var hint = select.form && select.form.querySelector("[data-id-hint]");
    var chosen = select.options[select.selectedIndex];
    if (hint && chosen && chosen.getAttribute("data-hint")) hint.textContent = chosen.getAttribute("data-hint");
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-id-type]")) { carried(e.target); hinted(e.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-id-type]").forEach(carried);
  });
  // The day picked stays in view in the day strip (after a swap too).
  function pickedInView() {
    var day = document.querySelector(".strip a[aria-current=date]");
    if (day && day.scrollIntoView) day.scrollIntoView({ block: "nearest", inline: "center" });
  }
  document.addEventListener("DOMContentLoaded", pickedInView);
  document.addEventListener("htmx:afterSwap", pickedInView);
  var started = Date.now();
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", function () { started = Date.now(); tick(); });
})();
