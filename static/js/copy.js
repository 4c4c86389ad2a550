// Copy buttons: <button data-copy="#input-id" hidden>. Shown only when this script runs (the
// text stays selectable without it); a click copies the target's value to the clipboard.
for (const button of document.querySelectorAll("[data-copy]")) {
  const target = document.querySelector(button.dataset.copy);
  if (!target) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(target.value ?? target.textContent);
      button.textContent = "Copied";
    } catch {
      target.select?.();
      button.textContent = "Press Ctrl+C to copy";
    }
  });
}
