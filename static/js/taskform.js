// The task form's metadata counter: characters typed of the most allowed. The server checks
// the limit too; this only shows it while typing. Counts code points, as Python does.
function bindCounters(root) {
  for (const area of root.querySelectorAll("textarea[data-counter]")) {
    const output = document.getElementById(area.dataset.counter);
    if (!output || area.dataset.counterBound) continue;
    area.dataset.counterBound = "1";
    const max = Number(output.dataset.max);
    const update = () => {
      const length = [...area.value.replace(/\r\n/g, "\n")].length;
      output.textContent = `${length} / ${max} characters`;
      output.classList.toggle("over", length > max);
    };
    area.addEventListener("input", update);
    update();
  }
}

bindCounters(document);
