// Polling pauses in a hidden tab and resumes at once when the tab is shown again.
// (htmx trigger filters such as `every 2s [!document.hidden]` need eval, which the CSP forbids.)
// Every polling element has hx-trigger="every 2s, tab-shown from:document".
document.addEventListener("htmx:beforeRequest", (event) => {
  const polling = (event.detail.elt.getAttribute("hx-trigger") || "").includes("every ");
  if (document.hidden && polling && !event.detail.requestConfig.triggeringEvent) {
    event.preventDefault();
  }
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) document.dispatchEvent(new CustomEvent("tab-shown"));
});
