// Transcript viewer: highlights the word (and line) being sung or spoken while the source
// plays; clicking a timestamp seeks there.
(function () {
  "use strict";

  function setup(root) {
    const audio = root.querySelector("[data-transcript-audio]");
    const words = Array.from(root.querySelectorAll(".word"));
    const lines = Array.from(root.querySelectorAll(".lines > li[data-start]"));
    if (!audio) return;
    let current = null;
    let currentLine = null;

    audio.addEventListener("timeupdate", function () {
      const t = audio.currentTime;
      const word = words.find(function (w) {
        return t >= Number(w.dataset.start) && t < Number(w.dataset.end);
      }) || null;
      if (word !== current) {
        if (current) current.classList.remove("active");
        if (word) word.classList.add("active");
        current = word;
      }
      const line = lines.find(function (l) {
        return t >= Number(l.dataset.start) && t < Number(l.dataset.end);
      }) || null;
      if (line !== currentLine) {
        if (currentLine) currentLine.classList.remove("active");
        if (line) {
          line.classList.add("active");
          line.scrollIntoView({ block: "nearest" });
        }
        currentLine = line;
      }
    });
    words.forEach(function (word) {
      word.addEventListener("click", function () {
        audio.currentTime = Number(word.dataset.start);
        audio.play().catch(function () {});
      });
    });
    root.querySelectorAll("[data-seek-to]").forEach(function (button) {
      button.addEventListener("click", function () {
        audio.currentTime = Number(button.dataset.seekTo);
        audio.play().catch(function () {});
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-transcript]").forEach(setup);
  });
})();
