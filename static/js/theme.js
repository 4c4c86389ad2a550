// The header's theme buttons work as a plain form (the page reloads in the new colours).
// With htmx the form alone is swapped: copy the choice it now shows onto <html data-theme>,
// which the stylesheet reads, so the page changes colours without a reload.
document.addEventListener("htmx:afterSwap", () => {
  const form = document.querySelector(".theme-form[data-theme]");
  if (form) document.documentElement.dataset.theme = form.dataset.theme;
});
