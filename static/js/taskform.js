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
      output.textContent = `${length} / ${max.toLocaleString("en-US")} characters`;
      output.classList.toggle("over", length > max);
    };
    area.addEventListener("input", update);
    update();
  }
}

// Keyboard focus after the rows' htmx swaps. "+ Add target", a preset and "Remove" replace
// the button that had focus, which would leave it on the body. The server marks where it
// belongs instead (data-focus="<element id>": the new row's model, the first row, the next
// row or the Targets heading); once htmx has settled, focus it and drop the marker.
function focusMarked() {
  const marker = document.querySelector("[data-focus]");
  if (!marker) return;
  const target = document.getElementById(marker.dataset.focus);
  delete marker.dataset.focus;
  if (target) target.focus();
}

bindCounters(document);
document.addEventListener("htmx:afterSettle", focusMarked);
