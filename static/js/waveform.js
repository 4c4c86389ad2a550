// ShakeWave: the lanes of the players. Draws a waveform (an SVG envelope) from an output's
// peaks (GET its data-peaks URL: computed server-side once and cached), moves a playhead over
// it, shades the loop region, and turns a click into a seek and a drag into a loop region.
// Positions are set through the CSSOM (style.left), which the CSP allows.
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";

  function points(peaks) {
    const top = [];
    const bottom = [];
    peaks.forEach(function (p, i) {
      const h = Math.max(p, 0.01) * 48;
      top.push(i + 0.5 + "," + (50 - h).toFixed(1));
      bottom.unshift(i + 0.5 + "," + (50 + h).toFixed(1));
    });
    return top.concat(bottom).join(" ");
  }

  function draw(lane, peaks) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + peaks.length + " 100");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    svg.classList.add("lane-wave");
    const polygon = document.createElementNS(SVG, "polygon");
    polygon.setAttribute("points", points(peaks));
    svg.appendChild(polygon);
    lane.insertBefore(svg, lane.firstChild);
  }

  // Fetch and draw the lane's peaks; resolves to the peaks JSON ({} when there is none).
  function load(lane) {
    const url = lane.dataset.peaks;
    if (!url) return Promise.resolve({});
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (data) {
        if (data.peaks && data.peaks.length) draw(lane, data.peaks);
        else lane.classList.add("no-wave");
        return data;
      })
      .catch(function () { lane.classList.add("no-wave"); return {}; });
  }

  function parts(lane) {
    if (!lane._parts) {
      const head = document.createElement("div");
      head.className = "playhead";
      const region = document.createElement("div");
      region.className = "loop-region";
      region.hidden = true;
      lane.appendChild(region);
      lane.appendChild(head);
      lane._parts = { head: head, region: region };
    }
    return lane._parts;
  }

  function pct(x) { return (Math.min(Math.max(x, 0), 1) * 100).toFixed(3) + "%"; }

  // Draw the playhead at `fraction` (0..1) and the loop region {start, end, on} (fractions).
  function show(lane, fraction, loop) {
    const p = parts(lane);
    p.head.style.left = pct(fraction);
    p.region.hidden = !loop;
    if (loop) {
      p.region.style.left = pct(loop.start);
      p.region.style.width = pct(loop.end - loop.start);
      p.region.classList.toggle("off", !loop.on);
    }
  }

  // Pointer input on a lane: a click calls seek(fraction), a drag calls region(from, to).
  function interact(lane, seek, region) {
    let down = null;
    function at(event) {
      const box = lane.getBoundingClientRect();
      return Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    }
    lane.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      down = { x: event.clientX, fraction: at(event) };
      lane.setPointerCapture(event.pointerId);
    });
    lane.addEventListener("pointerup", function (event) {
      if (!down) return;
      const moved = Math.abs(event.clientX - down.x) > 4;
      if (moved) region(down.fraction, at(event));
      else seek(at(event));
      down = null;
    });
    lane.addEventListener("pointercancel", function () { down = null; });
  }

  function fmt(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    const m = Math.floor(seconds / 60);
    const s = Math.floor(seconds % 60);
    return m + ":" + String(s).padStart(2, "0");
  }

  // The transport bar both players share: the seek slider, the clock, every lane's playhead
  // and loop region, the play and loop buttons, the loop label; redrawn on each engine event
  // and every animation frame while playing. Returns the render function.
  function transport(engine, ui) {
    function render() {
      const duration = engine.duration();
      const time = engine.time();
      if (!ui.seeking() && duration) ui.seek.value = String(Math.round((time / duration) * 1000));
      ui.clock.textContent = fmt(time) + " / " + fmt(duration);
      const loop = engine.loop && duration
        ? { start: engine.loop.start / duration, end: engine.loop.end / duration, on: engine.looping }
        : null;
      ui.lanes().forEach(function (lane) { show(lane, duration ? time / duration : 0, loop); });
      ui.toggle.textContent = engine.playing ? ui.pauseText : ui.playText;
      ui.toggle.setAttribute("aria-pressed", String(engine.playing));
      ui.loopButton.setAttribute("aria-pressed", String(engine.looping));
      ui.loopLabel.textContent = engine.loop
        ? "Loop " + fmt(engine.loop.start) + "–" + fmt(engine.loop.end) + (engine.looping ? "" : " (off)")
        : "No loop set";
    }
    function frame() {
      if (!ui.root.isConnected) return;
      render();
      if (engine.playing) requestAnimationFrame(frame);
    }
    engine.on(function () { render(); if (engine.playing) requestAnimationFrame(frame); });
    return render;
  }

  // Whether a key event belongs to the page's shortcuts (not typed into a field, no modifier).
  function forShortcuts(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return false;
    const target = event.target;
    return !(target.closest && target.closest("input, select, textarea, [contenteditable]"));
  }

  window.ShakeWave = {
    load: load, show: show, interact: interact, fmt: fmt, forShortcuts: forShortcuts, transport: transport,
  };
})();
