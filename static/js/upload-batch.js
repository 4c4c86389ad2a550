// After files are dropped or chosen on the upload page, offer one batch of them: each
// finished upload's row carries its asset's id (data-asset), accepted or already in the
// library. Without JavaScript the page's own results carry the same link.
{
  // A block of its own: classic scripts share one global scope.
  const queue = document.getElementById("upload-queue");
  const offer = document.getElementById("upload-batch");
  if (queue && offer) {
    const link = offer.querySelector("a");
    const update = () => {
      const pks = [...queue.querySelectorAll(".upload-result[data-asset]")].map((e) => e.dataset.asset);
      offer.hidden = pks.length === 0;
      link.href = `${link.dataset.base}?${pks.map((pk) => `asset=${encodeURIComponent(pk)}`).join("&")}`;
      link.textContent = `Create a batch with these ${pks.length} file${pks.length === 1 ? "" : "s"}`;
    };
    new MutationObserver(update).observe(queue, { childList: true });
  }
}
