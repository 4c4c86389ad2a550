// The library's "Create batch from N selected": counts the ticked rows (the checkboxes
// belong to the #batch-select form through their form="" attribute, so rows swapped by
// their status poll keep working). Without JavaScript the button reads "…from selected".
{
  // A block of its own: classic scripts share one global scope.
  const update = () => {
    const button = document.querySelector("[data-batch-button]");
    if (!button) return;
    const n = document.querySelectorAll('input[name="asset"][form="batch-select"]:checked').length;
    button.textContent = n ? `Create batch from ${n} selected` : "Create batch from selected";
    button.disabled = n === 0;
  };
  document.addEventListener("change", (event) => {
    if (event.target.matches('input[name="asset"][form="batch-select"]')) update();
  });
  document.addEventListener("htmx:afterSettle", update);
  document.addEventListener("DOMContentLoaded", update);
}
