/* The loading panel: runtime, download (MB done / total, speed, time left) and load bars, and
 * the Cancel button. */

const $ = (id) => document.getElementById(id);

export const mb = (bytes) => (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0);

function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s left`;
}

export class ProgressPanel {
  constructor() {
    this.panel = $("progress-panel");
    this.model = $("progress-model");
    this.cancel = $("cancel-load");
  }

  /** A model load starts: bars empty, the Cancel button shown (the runtime bar is kept). */
  start(label) {
    for (const stage of ["download", "load"]) this.show({ stage, loaded: 0, total: 1 });
    this.model.textContent = `Loading ${label}`;
    this.cancel.hidden = false;
    this.panel.hidden = false;
  }

  hide() {
    this.panel.hidden = true;
  }

  /** One report of Minfer.load's onProgress: {stage, loaded, total, detail, bytesPerSecond, secondsLeft}. */
  show({ stage, loaded, total, detail = "", bytesPerSecond, secondsLeft }) {
    const bar = $(`progress-${stage}`);
    if (!bar) return;
    bar.max = total || 1;
    bar.value = Math.min(loaded, total || 1);
    let text = detail || "";
    if (stage === "download" && total > 1) {
      const parts = [`${mb(loaded)} / ${mb(total)} MB`];
      if (loaded < total && bytesPerSecond > 0) parts.push(`${mb(bytesPerSecond)} MB/s`, duration(secondsLeft));
      else if (detail) parts.push(detail);
      text = parts.join(" · ");
    } else if (stage === "load" && total > 1) {
      text = `${Math.round((100 * loaded) / total)}%${detail ? ` · ${detail}` : ""}`;
    }
    $(`progress-${stage}-detail`).textContent = text;
  }
}
