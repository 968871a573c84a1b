"""minfer-wasm: local LLM inference on numpy alone, natively and in Pyodide."""

__version__ = "0.1.0"
