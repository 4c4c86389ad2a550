// Synced stem player: one transport for every stem of a task (play/pause, one seek bar),
// with per-stem mute, solo and volume. Loaded as a module-free script (CSP: no inline code).
// Keyboard (listed under the player, which this script unhides): Space plays or pauses, 1-9
// solos stem n alone (again: everyone back), M mutes or unmutes everything, Left and Right
// seek 5 s. Ignored while typing in a field, and Space on a focused button presses that button.
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
    const mutedNote = root.querySelector("[data-muted-note]");
    let seeking = false;
    let allMuted = false;

    function applyGains() {
      const anySolo = stems.some(function (s) { return s.soloed; });
      stems.forEach(function (s) {
        const audible = anySolo ? s.soloed : !s.muted;
        s.audio.volume = audible ? Number(s.volume.value) / 100 : 0;
        s.audio.muted = allMuted;
        s.mute.setAttribute("aria-pressed", String(s.muted));
        // while any stem is soloed, mute has no effect: say so rather than look broken
        s.mute.title = anySolo ? "Solo is on: only soloed stems are heard" : "";
        s.solo.setAttribute("aria-pressed", String(s.soloed));
        s.row.classList.toggle("silent", !audible || allMuted);
      });
      if (mutedNote) mutedNote.hidden = !allMuted;
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

    function seekBy(seconds) {
      if (!master.duration) return;
      const time = Math.min(Math.max(master.currentTime + seconds, 0), master.duration);
      syncAll(time);
      seek.value = String(Math.round((time / master.duration) * 1000));
      clock.textContent = fmt(time) + " / " + fmt(master.duration);
    }

    function soloOnly(index) {
      const stem = stems[index];
      if (!stem) return;
      const alone = stem.soloed && stems.every(function (s) { return s === stem || !s.soloed; });
      stems.forEach(function (s) { s.soloed = !alone && s === stem; });
      applyGains();
    }

    const keys = root.querySelector("[data-shortcuts]");
    if (keys) keys.hidden = false;
    document.addEventListener("keydown", function (event) {
      if (!root.isConnected || event.defaultPrevented) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      if (target.closest && target.closest("input, select, textarea, [contenteditable]")) return;
      const onControl = target.closest && target.closest("button, a, summary");
      if (event.key === " " && !onControl) {
        toggle.click();
      } else if (/^[1-9]$/.test(event.key)) {
        soloOnly(Number(event.key) - 1);
      } else if (event.key === "m" || event.key === "M") {
        allMuted = !allMuted;
        applyGains();
      } else if (event.key === "ArrowLeft") {
        seekBy(-5);
      } else if (event.key === "ArrowRight") {
        seekBy(5);
      } else {
        return;
      }
      event.preventDefault();
    });
  }

  function init() {
    document.querySelectorAll("[data-stem-player]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", init);
  // the player arrives by an htmx swap when the last target finishes
  document.addEventListener("htmx:afterSettle", init);
})();
