// Guahao kiosk: back to the start screen after a while without a touch (the patient walked
// away: nothing of theirs stays on screen), the print button, and the countdown of a hold.
// The server forgets an idle patient too; the pages work without this script.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  var finish = body.getAttribute("data-finish-url");
  var last = Date.now();
  function touched() { last = Date.now(); }
  ["pointerdown", "keydown", "touchstart", "input"].forEach(function (kind) {
    document.addEventListener(kind, touched, { passive: true, capture: true });
  });
  function goHome() {
    var form = document.getElementById("finish-form");
    if (form) { form.submit(); } else if (finish) { location.href = finish; }
  }
  if (idle > 0 && finish) {
    setInterval(function () { if (Date.now() - last > idle * 1000) goHome(); }, 1000);
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-print]");
    if (el) { e.preventDefault(); window.print(); }
  });
  var started = Date.now();
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, parseInt(el.getAttribute("data-countdown"), 10) - Math.floor((Date.now() - started) / 1000));
      el.textContent = Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2);
    });
  }
  tick(); setInterval(tick, 1000);
  // The ID field keeps the focus, so a card reader's keystrokes always land in it.
  var id = document.querySelector("[data-reader]");
  if (id) {
    id.focus();
    document.addEventListener("pointerup", function () { if (document.activeElement === body) id.focus(); });
  }
})();
