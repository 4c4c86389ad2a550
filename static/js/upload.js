// The upload page, enhanced: drag-and-drop, several files, one progress bar per file. Each
// file is posted on its own to the form's action (the same view as the plain form, which
// works without this script) and its result replaces its progress row.
const form = document.getElementById("upload-form");
const queue = document.getElementById("upload-queue");
const CONCURRENT = 2;

if (form && queue && window.FormData && window.XMLHttpRequest) {
  const input = form.querySelector('input[type="file"]');
  const zone = form.querySelector("[data-dropzone]");
  const maxBytes = Number(form.dataset.maxBytes);
  const waiting = [];
  let running = 0;

  form.querySelector("[data-drop-hint]").hidden = false;

  const formatSize = (bytes) => {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
  };

  const row = (file) => {
    const item = document.createElement("li");
    item.className = "upload-result pending";
    const name = document.createElement("div");
    name.className = "upload-name";
    const strong = document.createElement("strong");
    strong.textContent = file.name;
    name.append(strong, ` · ${formatSize(file.size)}`);
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload progress of ${file.name}`);
    const status = document.createElement("p");
    status.className = "upload-message";
    status.textContent = "Waiting…";
    item.append(name, bar, status);
    queue.prepend(item);
    return { item, bar, status };
  };

  const fail = (view, message) => {
    view.item.className = "upload-result rejected";
    view.bar.remove();
    view.status.textContent = message;
  };

  const next = () => {
    while (running < CONCURRENT && waiting.length) {
      running += 1;
      send(...waiting.shift());
    }
  };

  const send = (file, view) => {
    const data = new FormData(form);
    data.delete("files");
    data.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((event.loaded / event.total) * 100);
      view.bar.value = percent;
      view.status.textContent = `Uploading… ${percent} %`;
    });
    xhr.upload.addEventListener("load", () => {
      view.bar.value = 100;
      view.status.textContent = "Checking the file…";
    });
    xhr.addEventListener("load", () => {
      const template = document.createElement("template");
      template.innerHTML = xhr.responseText;
      const results = template.content.querySelectorAll(".upload-result");
      if (results.length) {
        view.item.replaceWith(...results);
      } else {
        fail(view, `The server answered ${xhr.status}: the file was not uploaded. Try again.`);
      }
    });
    xhr.addEventListener("error", () => fail(view, "The connection failed: the file was not uploaded. Try again."));
    xhr.addEventListener("abort", () => fail(view, "The upload was cancelled."));
    xhr.addEventListener("loadend", () => {
      running -= 1;
      next();
    });
    xhr.send(data);
  };

  const enqueue = (files) => {
    for (const file of files) {
      const view = row(file);
      if (file.size > maxBytes) {
        fail(view, form.dataset.tooLarge);
        continue;
      }
      waiting.push([file, view]);
    }
    next();
  };

  const ready = () => {
    for (const field of form.querySelectorAll("select[name=project], input[name=rights]")) {
      field.required = true;
    }
    return form.reportValidity();
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files.length) {
      input.setCustomValidity("Choose at least one file to upload.");
      input.reportValidity();
      input.setCustomValidity("");
      return;
    }
    if (!ready()) return;
    enqueue(Array.from(input.files));
    input.value = "";
  });

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = Array.from(event.dataTransfer.files);
    if (!files.length) return;
    if (!ready()) {
      input.files = event.dataTransfer.files; // kept for the Upload button
      return;
    }
    enqueue(files);
  });
}
