/* The header's status (data-state: loading | ready | generating | error) and the error banner. */

const $ = (id) => document.getElementById(id);

const ERROR_TITLES = {
  SourceError: "Could not read the model",
  GGUFError: "Not a GGUF model",
  UnsupportedError: "Unsupported model",
  MemoryError: "Out of memory",
  OutOfMemoryError: "Out of memory",
  RequestError: "Invalid request",
  InternalError: "Internal error",
  ContextOverflowError: "Conversation too long",
  TemplateError: "Chat template failed",
  SamplingError: "Invalid setting",
  AbortError: "Cancelled",
};

export class Status {
  constructor() {
    this.element = document.querySelector('[data-testid="status"]');
    this.text = $("status-text");
    this.banner = $("error-banner");
  }

  title(kind) {
    return ERROR_TITLES[kind] || kind || "Error";
  }

  set(state, text) {
    this.element.dataset.state = state;
    this.text.textContent = text;
  }

  showError(kind, message) {
    $("error-title").textContent = `${this.title(kind)}:`;
    $("error-message").textContent = message;
    this.banner.hidden = false;
    this.set("error", this.title(kind));
  }

  clearError() {
    this.banner.hidden = true;
  }
}
