// Browser notifications (notifications/). While a shakeweb tab is open and this browser allows
// notifications, ask the server every data-interval seconds for the member's notices not shown
// yet (204: none) and show each with `new Notification()`; the server marks them shown, so a
// second tab does not show them again. Paused in a hidden tab, like static/js/polling.js, and
// asked at once when the tab is shown again. No inline script, no eval: CSP-clean.
// On the Notifications page it also says what this browser allows and asks for permission.
(() => {
  const script = document.currentScript;
  const status = document.querySelector("[data-notify-status]");
  const button = document.querySelector("[data-notify-permission]");
  if (!("Notification" in window)) {
    if (status) status.textContent = "This browser cannot show notifications.";
    return;
  }
  const url = script && script.dataset.url;
  const interval = Number((script && script.dataset.interval) || 20) * 1000;
  let timer = null;
  let busy = false;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function show(item) {
    const notice = new Notification(item.title, { body: item.body, tag: item.tag });
    notice.addEventListener("click", () => {
      window.focus();
      window.location.assign(item.url);
      notice.close();
    });
  }

  async function poll() {
    if (!url || busy || document.hidden || Notification.permission !== "granted") return;
    busy = true;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
        redirect: "error", // logged out: the log-in page is not a notice
      });
      const type = response.headers.get("content-type") || "";
      if (response.status !== 200 || !type.includes("json")) return;
      const data = await response.json();
      (data.notifications || []).forEach(show);
    } catch (error) {
      // Offline, or logged out: the next interval tries again.
    } finally {
      busy = false;
    }
  }

  function start() {
    if (timer === null) timer = window.setInterval(poll, interval);
    poll();
  }

  function describe() {
    if (!status) return;
    const permission = Notification.permission;
    if (button) button.hidden = permission !== "default";
    status.textContent =
      permission === "granted"
        ? "This browser shows your notifications while a shakeweb tab is open."
        : permission === "denied"
          ? "This browser blocks notifications from shakeweb: allow them in its site settings."
          : "This browser has not been asked yet.";
  }

  if (button) {
    button.addEventListener("click", async () => {
      await Notification.requestPermission();
      describe();
      if (Notification.permission === "granted") start();
    });
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });
  describe();
  if (Notification.permission === "granted") start();
})();
