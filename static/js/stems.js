// Synced stem player: one transport for every stem of a task (play/pause, one seek bar),
// with per-stem mute, solo and volume. Loaded as a module-free script (CSP: no inline code).
(function () {
  "use strict";

  function fmt(seconds) {
    if (!isFinite(seconds)) return "0:00";
    const m = Math.floor(seconds / 60);
    const s = Math.floor(seconds % 60);
    return m + ":" + String(s).padStart(2, "0");
  }

  function setup(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    const rows = Array.from(root.querySelectorAll("[data-stem]"));
    const stems = rows.map(function (row) {
      return {
        row: row,
        audio: row.querySelector("audio"),
        mute: row.querySelector('[data-action="mute"]'),
        solo: row.querySelector('[data-action="solo"]'),
        volume: row.querySelector("[data-volume]"),
        muted: false,
        soloed: false,
      };
    });
    if (!stems.length) return;
    const master = stems[0].audio;
    const toggle = root.querySelector('[data-action="toggle"]');
    const seek = root.querySelector("[data-seek]");
    const clock = root.querySelector("[data-clock]");
    let seeking = false;

    function applyGains() {
      const anySolo = stems.some(function (s) { return s.soloed; });
      stems.forEach(function (s) {
        const audible = anySolo ? s.soloed : !s.muted;
        s.audio.volume = audible ? Number(s.volume.value) / 100 : 0;
        s.mute.setAttribute("aria-pressed", String(s.muted));
        // while any stem is soloed, mute has no effect: say so rather than look broken
        s.mute.title = anySolo ? "Solo is on: only soloed stems are heard" : "";
        s.solo.setAttribute("aria-pressed", String(s.soloed));
        s.row.classList.toggle("silent", !audible);
      });
    }

    function playing() { return !master.paused; }

    function syncAll(time) {
      stems.forEach(function (s) {
        if (Math.abs(s.audio.currentTime - time) > 0.04) s.audio.currentTime = time;
      });
    }

    toggle.addEventListener("click", function () {
      if (playing()) {
        stems.forEach(function (s) { s.audio.pause(); });
      } else {
        syncAll(master.currentTime);
        stems.forEach(function (s) { s.audio.play().catch(function () {}); });
      }
    });
    master.addEventListener("play", function () {
      toggle.textContent = "Pause all";
      toggle.setAttribute("aria-pressed", "true");
    });
    master.addEventListener("pause", function () {
      toggle.textContent = "Play all";
      toggle.setAttribute("aria-pressed", "false");
    });
    master.addEventListener("loadedmetadata", function () {
      clock.textContent = fmt(0) + " / " + fmt(master.duration);
    });
    if (master.readyState >= 1) clock.textContent = fmt(0) + " / " + fmt(master.duration);
    master.addEventListener("ended", function () {
      stems.forEach(function (s) { s.audio.pause(); });
    });
    master.addEventListener("timeupdate", function () {
      if (!seeking && master.duration) {
        seek.value = String(Math.round((master.currentTime / master.duration) * 1000));
      }
      clock.textContent = fmt(master.currentTime) + " / " + fmt(master.duration);
      // keep followers within a few frames of the master
      stems.slice(1).forEach(function (s) {
        if (Math.abs(s.audio.currentTime - master.currentTime) > 0.08) {
          s.audio.currentTime = master.currentTime;
        }
      });
    });
    seek.addEventListener("input", function () { seeking = true; });
    seek.addEventListener("change", function () {
      seeking = false;
      if (master.duration) syncAll((Number(seek.value) / 1000) * master.duration);
    });
    stems.forEach(function (s) {
      s.mute.addEventListener("click", function () { s.muted = !s.muted; applyGains(); });
      s.solo.addEventListener("click", function () { s.soloed = !s.soloed; applyGains(); });
      s.volume.addEventListener("input", applyGains);
    });
    applyGains();
  }

  function init() {
    document.querySelectorAll("[data-stem-player]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", init);
  // the player arrives by an htmx swap when the last target finishes
  document.addEventListener("htmx:afterSettle", init);
})();
