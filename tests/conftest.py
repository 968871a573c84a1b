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
