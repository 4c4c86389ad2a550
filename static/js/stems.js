// The stem player: every stem of a task on one Web Audio clock (engine.js), each with its
// waveform lane (waveform.js), volume, pan, mute and solo; one playhead with click-to-seek,
// and a loop region (drag on a lane, or the loop buttons / [ and ] keys at the playhead).
// Keyboard (listed under the player, which this script unhides): Space plays or pauses, 1-9
// solos stem n alone (again: everyone back), M mutes or unmutes everything, Left and Right
// seek 5 s, Home goes to the start, [ and ] set the loop's start and end, L loops on or off.
// Ignored while typing in a field, and Space on a focused button presses that button.
(function () {
  "use strict";


  function setup(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    const rows = Array.from(root.querySelectorAll("[data-stem]"));
    if (!rows.length) return;
    const engine = new window.ShakeEngine.Engine(
      rows.map(function (row) { return row.dataset.src; }),
      { onerror: function (err) { status.textContent = "Playback stopped: " + err.message; } }
    );
    root.engine = engine; // for the browser tests and the console
    const stems = rows.map(function (row, i) {
      return {
        row: row,
        track: engine.tracks[i],
        lane: row.querySelector("[data-lane]"),
        mute: row.querySelector('[data-action="mute"]'),
        solo: row.querySelector('[data-action="solo"]'),
        volume: row.querySelector("[data-volume]"),
        pan: row.querySelector("[data-pan]"),
        muted: false,
        soloed: false,
      };
    });
    const toggle = root.querySelector('[data-action="toggle"]');
    const seek = root.querySelector("[data-seek]");
    const clock = root.querySelector("[data-clock]");
    const mutedNote = root.querySelector("[data-muted-note]");
    const status = root.querySelector("[data-status]");
    const loopButton = root.querySelector('[data-action="loop"]');
    const loopLabel = root.querySelector("[data-loop-label]");
    let seeking = false;
    let allMuted = false;

    function applyGains() {
      const anySolo = stems.some(function (s) { return s.soloed; });
      stems.forEach(function (s) {
        const audible = anySolo ? s.soloed : !s.muted;
        s.track.audible = audible;
        s.track.volume = Number(s.volume.value) / 100;
        s.track.applyGain(false);
        if (s.track.pan) s.track.pan.pan.value = Number(s.pan.value) / 100;
        s.mute.setAttribute("aria-pressed", String(s.muted));
        // while any stem is soloed, mute has no effect: say so rather than look broken
        s.mute.title = anySolo ? "Solo is on: only soloed stems are heard" : "";
        s.solo.setAttribute("aria-pressed", String(s.soloed));
        s.row.classList.toggle("silent", !audible || allMuted);
      });
      engine.setMasterMuted(allMuted);
      if (mutedNote) mutedNote.hidden = !allMuted;
    }

    const render = window.ShakeWave.transport(engine, {
      root: root, seek: seek, clock: clock, toggle: toggle, loopButton: loopButton, loopLabel: loopLabel,
      playText: "Play all", pauseText: "Pause all",
      seeking: function () { return seeking; },
      lanes: function () { return stems.map(function (s) { return s.lane; }); },
    });

    function seekTo(seconds) { engine.seek(seconds); }
    function seekBy(seconds) { seekTo(engine.time() + seconds); }

    function setLoopEdge(which) {
      const t = engine.time();
      const current = engine.loop || { start: 0, end: engine.duration() };
      let start = which === "start" ? t : current.start;
      let end = which === "end" ? t : current.end;
      if (end <= start) {
        if (which === "start") end = engine.duration();
        else start = 0;
      }
      engine.setLoop(start, end);
      if (!engine.looping) engine.setLooping(true);
    }

    toggle.disabled = true;
    status.textContent = "Loading…";
    engine.load().then(function () {
      toggle.disabled = false;
      status.textContent = "";
      applyGains();
      render();
    }).catch(function (err) { status.textContent = "The player could not load: " + err.message; });

    stems.forEach(function (s, i) {
      window.ShakeWave.load(s.lane).then(function (data) {
        if (data.duration && !s.track.layout && !s.track.duration) {
          s.track.duration = data.duration;
          render();
        }
      });
      window.ShakeWave.interact(
        s.lane,
        function (fraction) { seekTo(fraction * engine.duration()); },
        function (a, b) {
          const d = engine.duration();
          engine.setLoop(a * d, b * d);
          engine.setLooping(true);
        }
      );
      s.mute.addEventListener("click", function () { s.muted = !s.muted; applyGains(); });
      s.solo.addEventListener("click", function () { s.soloed = !s.soloed; applyGains(); });
      s.volume.addEventListener("input", applyGains);
      s.pan.addEventListener("input", applyGains);
      s.index = i;
    });

    toggle.addEventListener("click", function () { engine.toggle(); });
    seek.addEventListener("input", function () { seeking = true; });
    seek.addEventListener("change", function () {
      seeking = false;
      seekTo((Number(seek.value) / 1000) * engine.duration());
    });
    loopButton.addEventListener("click", function () {
      if (!engine.loop) engine.setLoop(0, engine.duration());
      engine.setLooping(!engine.looping);
    });
    root.querySelector('[data-action="loop-start"]').addEventListener("click", function () { setLoopEdge("start"); });
    root.querySelector('[data-action="loop-end"]').addEventListener("click", function () { setLoopEdge("end"); });

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
      if (!root.isConnected || !window.ShakeWave.forShortcuts(event)) return;
      const onControl = event.target.closest && event.target.closest("button, a, summary");
      const key = event.key;
      if (key === " " && !onControl) {
        if (!toggle.disabled) engine.toggle();
      } else if (/^[1-9]$/.test(key)) {
        soloOnly(Number(key) - 1);
      } else if (key === "m" || key === "M") {
        allMuted = !allMuted;
        applyGains();
      } else if (key === "ArrowLeft") {
        seekBy(-5);
      } else if (key === "ArrowRight") {
        seekBy(5);
      } else if (key === "Home") {
        seekTo(0);
      } else if (key === "[") {
        setLoopEdge("start");
      } else if (key === "]") {
        setLoopEdge("end");
      } else if (key === "l" || key === "L") {
        loopButton.click();
      } else {
        return;
      }
      event.preventDefault();
    });
    render();
  }

  function init() {
    document.querySelectorAll("[data-stem-player]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", init);
  // the player arrives by an htmx swap when the last target finishes
  document.addEventListener("htmx:afterSettle", init);
})();
