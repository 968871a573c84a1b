"""Shared fixtures: the real models, pulled (and sha256-checked) into the user cache on first use."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does; set before numpy loads

import pytest

from minfer_wasm.native import model_store


@pytest.fixture(scope="session")
def smollm2_path():
    return model_store.pull("smollm2-135m", log=lambda _: None)


@pytest.fixture(scope="session")
def gemma3_path():
    return model_store.pull("gemma3-270m", log=lambda _: None)


def _build_kernels(kind: str, tmp_path_factory):
    """quant_kernels.c built once per session; only a missing compiler skips (a failing one fails)."""
    from minfer_wasm.native import kernel_build

    out = tmp_path_factory.mktemp("kernels") / f"quant_kernels_{kind}.so"
    try:
        return getattr(kernel_build, f"build_{kind}")(out)
    except kernel_build.ToolMissingError as e:
        pytest.skip(f"cannot build the {kind} kernels: {e}")


@pytest.fixture(scope="session")
def native_kernels_path(tmp_path_factory):
    return _build_kernels("native", tmp_path_factory)


@pytest.fixture(scope="session")
def wasm_kernels_path(tmp_path_factory):
    return _build_kernels("wasm", tmp_path_factory)


@pytest.fixture(scope="session")
def kernels(native_kernels_path):
    """The compiled kernels loaded natively: the page's C through its portable path, which gives
    the wasm SIMD build's results bit for bit (test_kernels_pyodide.py)."""
    from minfer_wasm.kernels import load_kernels

    return load_kernels(native_kernels_path)


def pytest_terminal_summary(terminalreporter):
    """The fuzz suites' counts (tests/fuzz_harness.py), when any ran."""
    from fuzz_harness import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("fuzz cases")
        for line in lines:
            terminalreporter.write_line(line)
