"""Native-only tooling: CLI, model store, site build and serve, benchmarks (never imported in the page)."""
