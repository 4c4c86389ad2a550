// A/B compare: two outputs play in sync; A or B is heard, switching instantly (no reload).
(function () {
  "use strict";

  function fmt(seconds) {
    if (!isFinite(seconds)) return "0:00";
    return Math.floor(seconds / 60) + ":" + String(Math.floor(seconds % 60)).padStart(2, "0");
  }

  function setup(root) {
    const a = root.querySelector('audio[data-side="a"]');
    const b = root.querySelector('audio[data-side="b"]');
    const toggle = root.querySelector('[data-action="toggle"]');
    const buttons = { a: root.querySelector('[data-action="a"]'), b: root.querySelector('[data-action="b"]') };
    const seek = root.querySelector("[data-seek]");
    const clock = root.querySelector("[data-clock]");
    let side = "a";

    function listen(which) {
      side = which;
      a.muted = which !== "a";
      b.muted = which !== "b";
      buttons.a.setAttribute("aria-pressed", String(which === "a"));
      buttons.b.setAttribute("aria-pressed", String(which === "b"));
    }

    toggle.addEventListener("click", function () {
      if (a.paused) {
        b.currentTime = a.currentTime;
        a.play().catch(function () {});
        b.play().catch(function () {});
        toggle.textContent = "Pause";
        toggle.setAttribute("aria-pressed", "true");
      } else {
        a.pause();
        b.pause();
        toggle.textContent = "Play";
        toggle.setAttribute("aria-pressed", "false");
      }
    });
    buttons.a.addEventListener("click", function () { listen("a"); });
    buttons.b.addEventListener("click", function () { listen("b"); });
    document.addEventListener("keydown", function (event) {
      if (event.target.closest("input, select, textarea")) return;
      if (event.key === "a" || event.key === "b") listen(event.key);
    });
    a.addEventListener("timeupdate", function () {
      if (Math.abs(b.currentTime - a.currentTime) > 0.08) b.currentTime = a.currentTime;
      if (a.duration) seek.value = String(Math.round((a.currentTime / a.duration) * 1000));
      clock.textContent = fmt(a.currentTime) + " / " + fmt(a.duration);
    });
    seek.addEventListener("change", function () {
      if (!a.duration) return;
      const t = (Number(seek.value) / 1000) * a.duration;
      a.currentTime = t;
      b.currentTime = t;
    });
    listen(side);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ab-player]").forEach(setup);
  });
})();
