// A/B compare on the stem player's engine (engine.js): both outputs play on one Web Audio
// clock, and switching is a 5 ms gain change, so it is instant and never jumps in time. Levels
// are matched from the RMS the peaks endpoint measured (the louder side is turned down, never
// the quieter up: no clipping). Blind test: the sides are shuffled and named X and Y; choosing
// the preferred one reveals which was which. Nothing is sent anywhere (ratings live elsewhere).
// Keyboard: Space, A/B (X/Y), T switches, arrows seek 5 s, Home, L loop.
(function () {
  "use strict";


  function setup(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    const tracks = {
      a: root.querySelector('[data-track][data-side="a"]'),
      b: root.querySelector('[data-track][data-side="b"]'),
    };
    const engine = new window.ShakeEngine.Engine([tracks.a.dataset.src, tracks.b.dataset.src], {
      onerror: function (err) { status.textContent = "Playback stopped: " + err.message; },
    });
    root.engine = engine; // for the browser tests and the console
    const toggle = root.querySelector('[data-action="toggle"]');
    const buttons = { a: root.querySelector('[data-action="a"]'), b: root.querySelector('[data-action="b"]') };
    const seek = root.querySelector("[data-seek]");
    const clock = root.querySelector("[data-clock]");
    const status = root.querySelector("[data-status]");
    const lane = root.querySelector("[data-lane]");
    const loopButton = root.querySelector('[data-action="loop"]');
    const loopLabel = root.querySelector("[data-loop-label]");
    const levelMatch = root.querySelector("[data-level-match]");
    const levelNote = root.querySelector("[data-level-note]");
    const blindBox = root.querySelector("[data-blind]");
    const blindPanel = root.querySelector("[data-blind-panel]");
    const reveal = root.querySelector("[data-reveal]");
    const levels = { a: null, b: null };
    let slot = "a"; // the button pressed: "a" (A, or X when blind) or "b"
    let blind = null; // during a blind round: {a: side heard as X, b: side heard as Y}
    let seeking = false;

    function sideOf(which) { return blind ? blind[which] : which; }
    function track(side) { return engine.tracks[side === "a" ? 0 : 1]; }

    function listen(which) {
      slot = which;
      const side = sideOf(which);
      track("a").audible = side === "a";
      track("b").audible = side === "b";
      track("a").applyGain(false);
      track("b").applyGain(false);
      buttons.a.setAttribute("aria-pressed", String(which === "a"));
      buttons.b.setAttribute("aria-pressed", String(which === "b"));
    }

    function applyLevels() {
      const on = levelMatch.checked && levels.a !== null && levels.b !== null;
      const diff = on ? levels.a - levels.b : 0; // dB that A is louder than B
      track("a").level = diff > 0 ? Math.pow(10, -diff / 20) : 1;
      track("b").level = diff < 0 ? Math.pow(10, diff / 20) : 1;
      listen(slot);
      if (levels.a === null || levels.b === null) levelNote.textContent = "(no level measured for this format)";
      else if (!levelMatch.checked) levelNote.textContent = "Off: the louder side may sound better just for being louder.";
      else if (blind) levelNote.textContent = "Levels matched.";
      else if (Math.abs(diff) < 0.05) levelNote.textContent = "Already at the same level.";
      else levelNote.textContent = (diff > 0 ? "A" : "B") + " turned down " + Math.abs(diff).toFixed(1) + " dB to match.";
    }

    function labels() {
      buttons.a.textContent = blind ? "X" : tracks.a.dataset.name;
      buttons.b.textContent = blind ? "Y" : tracks.b.dataset.name;
      blindPanel.hidden = !blind;
    }

    function startBlind() {
      const swap = crypto.getRandomValues(new Uint8Array(1))[0] & 1;
      blind = swap ? { a: "b", b: "a" } : { a: "a", b: "b" };
      reveal.hidden = true;
      labels();
      applyLevels();
    }

    function choose(which) {
      if (!blind) return;
      const mapping = blind;
      const name = function (side) { return tracks[side].dataset.name; };
      reveal.textContent = "You preferred " + (which === "a" ? "X" : "Y") + ", which was " +
        name(mapping[which]) + ". (X was " + name(mapping.a) + "; Y was " + name(mapping.b) + ".)";
      reveal.hidden = false;
      blind = null;
      blindBox.checked = false;
      slot = mapping[slot]; // keep hearing the same side, now under its real name
      labels();
      applyLevels();
    }

    const render = window.ShakeWave.transport(engine, {
      root: root, seek: seek, clock: clock, toggle: toggle, loopButton: loopButton, loopLabel: loopLabel,
      playText: "Play", pauseText: "Pause",
      seeking: function () { return seeking; },
      lanes: function () { return [lane]; },
    });

    toggle.disabled = true;
    status.textContent = "Loading…";
    const loaded = engine.load().then(function () {
      toggle.disabled = false;
      status.textContent = "";
      applyLevels();
      render();
    }).catch(function (err) { status.textContent = "The player could not load: " + err.message; });

    window.ShakeWave.load(lane);
    ["a", "b"].forEach(function (side) {
      fetch(tracks[side].dataset.peaks, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (data) {
          levels[side] = typeof data.rms_db === "number" ? data.rms_db : null;
          return loaded;
        })
        .then(applyLevels)
        .catch(function () {});
    });
    window.ShakeWave.interact(
      lane,
      function (fraction) { engine.seek(fraction * engine.duration()); },
      function (x, y) {
        engine.setLoop(x * engine.duration(), y * engine.duration());
        engine.setLooping(true);
      }
    );

    toggle.addEventListener("click", function () { engine.toggle(); });
    buttons.a.addEventListener("click", function () { listen("a"); });
    buttons.b.addEventListener("click", function () { listen("b"); });
    root.querySelector('[data-action="prefer-a"]').addEventListener("click", function () { choose("a"); });
    root.querySelector('[data-action="prefer-b"]').addEventListener("click", function () { choose("b"); });
    levelMatch.addEventListener("change", applyLevels);
    blindBox.addEventListener("change", function () {
      if (blindBox.checked) startBlind();
      else {
        if (blind) slot = blind[slot];
        blind = null;
        labels();
        applyLevels();
      }
    });
    loopButton.addEventListener("click", function () {
      if (!engine.loop) engine.setLoop(0, engine.duration());
      engine.setLooping(!engine.looping);
    });
    seek.addEventListener("input", function () { seeking = true; });
    seek.addEventListener("change", function () {
      seeking = false;
      engine.seek((Number(seek.value) / 1000) * engine.duration());
    });

    const keys = root.querySelector("[data-shortcuts]");
    if (keys) keys.hidden = false;
    document.addEventListener("keydown", function (event) {
      if (!root.isConnected || !window.ShakeWave.forShortcuts(event)) return;
      const onControl = event.target.closest && event.target.closest("button, a, summary");
      const key = event.key.toLowerCase();
      if (key === " " && !onControl) {
        if (!toggle.disabled) engine.toggle();
      } else if (key === "a" || (blind && key === "x")) listen("a");
      else if (key === "b" || (blind && key === "y")) listen("b");
      else if (key === "t") listen(slot === "a" ? "b" : "a");
      else if (key === "arrowleft") engine.seek(engine.time() - 5);
      else if (key === "arrowright") engine.seek(engine.time() + 5);
      else if (key === "home") engine.seek(0);
      else if (key === "l") loopButton.click();
      else return;
      event.preventDefault();
    });
    labels();
    listen(slot);
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ab-player]").forEach(setup);
  });
})();
