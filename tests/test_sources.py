"""Byte sources: file (mmap), memory, and HTTP Range against a local http.server."""

import mmap
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from gguf_fixtures import EVERY_VALUE_TYPE, write_gguf
from minfer_wasm.errors import GGUFError, SourceError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native.http_source import HttpRangeSource
from minfer_wasm.native.model_store import KNOWN_MODELS, model_path, open_model
from minfer_wasm.sources import BytesSource, FileSource

BLOB = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()


# ---- local files and memory --------------------------------------------------------------

def test_file_source_reads_zero_copy_slices(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(BLOB)
    source = FileSource(path)
    assert source.size == len(BLOB) and source.name == str(path)
    for offset, length in [(0, 10), (99_990, 10), (12_345, 54_321), (500, 0)]:
        view = source.read(offset, length)
        assert isinstance(view, memoryview) and bytes(view) == BLOB[offset:offset + length]
    with pytest.raises(SourceError, match=re.escape(f"{path}: read of 11 bytes at offset 99990")):
        source.read(99_990, 11)


@pytest.mark.parametrize("case", ["missing", "directory"])
def test_file_source_open_errors_name_the_path(tmp_path, case):
    path = tmp_path / "nope.gguf"
    if case == "directory":
        path.mkdir()
    with pytest.raises(SourceError, match=re.escape(str(path))):
        FileSource(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_file_source_permission_denied(tmp_path):
    path = tmp_path / "locked.gguf"
    path.write_bytes(b"GGUF")
    path.chmod(0)
    with pytest.raises(SourceError, match=re.escape(f"{path}: permission denied")):
        FileSource(path)


def test_empty_file_opens_and_the_reader_complains(tmp_path):
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    source = FileSource(path)
    assert source.size == 0 and bytes(source.read(0, 0)) == b""
    with pytest.raises(GGUFError, match=re.escape(f"{path}: file ends at byte 0")):
        GGUFFile.open(source)


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview,
                                  lambda b: np.frombuffer(b, np.uint8)])
def test_bytes_source_accepts_bytes_likes(make):
    source = BytesSource(make(BLOB), name="mem")
    assert source.size == len(BLOB)
    assert bytes(source.read(7, 1000)) == BLOB[7:1007]
    with pytest.raises(SourceError, match="mem: read of 1 bytes at offset -1"):
        source.read(-1, 1)


def test_open_model_dispatches_on_url_scheme_name_and_path(tmp_path, http_server, smollm2_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(BLOB)
    assert isinstance(open_model(str(path)), FileSource)
    assert isinstance(open_model(path), FileSource)
    for url in (http_server.url("/blob"), http_server.url("/blob").replace("http:", "HTTP:")):
        source = open_model(url)
        assert isinstance(source, HttpRangeSource) and source.size == len(BLOB)
    known = open_model("smollm2-135m", log=lambda _: None)
    assert isinstance(known, FileSource) and known.name == str(smollm2_path)


# ---- HTTP -------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """Serves server.files; honours `Range: bytes=a-b` unless server.mode says otherwise."""

    def do_GET(self):
        server = self.server
        server.log.append(self.headers.get("Range"))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range") or "")
        if not match or server.mode == "ignore-range":
            self.reply(200, data, {})
            return
        start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
        if start >= len(data):
            self.reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            return
        body = data[start:end + 1]
        if server.mode == "wrong-start":
            start += 1
        headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        if server.mode == "short-body" and end > 0:
            headers["Content-Length"] = str(len(body))  # promise the whole range, send half
            body = body[:len(body) // 2]
        self.reply(206, body, headers)

    def reply(self, status, body, headers):
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class LocalServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.files, self.httpd.log, self.httpd.mode = {"/blob": BLOB, "/empty": b""}, [], "range"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LocalServer()
    yield server
    server.close()


def test_http_reads_match_the_bytes(http_server):
    source = HttpRangeSource(http_server.url("/blob"), chunk_size=4096)
    assert source.size == len(BLOB) and source.name == http_server.url("/blob")
    rng = np.random.default_rng(1)
    cases = [(0, 0), (0, 1), (4095, 2), (8000, 4096), (95_000, 5000), (0, len(BLOB))]
    cases += [(int(o), int(n)) for o, n in zip(rng.integers(0, 90_000, 30), rng.integers(0, 9000, 30))]
    for offset, length in cases:
        assert bytes(source.read(offset, length)) == BLOB[offset:offset + length], (offset, length)
    with pytest.raises(SourceError, match="outside the 100000-byte source"):
        source.read(99_999, 2)


def test_http_small_reads_are_served_from_cached_chunks(http_server):
    source = HttpRangeSource(http_server.url("/blob"), chunk_size=4096, cache_chunks=2)
    http_server.httpd.log.clear()
    for offset in range(0, 4000, 8):   # 500 small reads inside chunk 0
        source.read(offset, 8)
    source.read(4090, 10)              # spans chunks 0 and 1
    assert http_server.httpd.log == ["bytes=0-4095", "bytes=4096-8191"]
    source.read(9000, 10)              # chunk 2 evicts chunk 0 (LRU of 2)
    source.read(100, 8)
    assert http_server.httpd.log[2:] == ["bytes=8192-12287", "bytes=0-4095"]


def test_http_gguf_matches_the_file(http_server, tmp_path):
    path = write_gguf(tmp_path / "m.gguf", EVERY_VALUE_TYPE,
                      {"w": np.arange(64 * 32, dtype=np.float32).reshape(64, 32)})
    http_server.httpd.files["/m.gguf"] = path.read_bytes()
    remote = GGUFFile.open(HttpRangeSource(http_server.url("/m.gguf"), chunk_size=512))
    local = GGUFFile.open(FileSource(path))
    assert remote.tensors == local.tensors and list(remote.metadata) == list(local.metadata)
    assert bytes(remote.tensor_bytes("w")) == bytes(local.tensor_bytes("w"))


def test_real_model_over_http(http_server):
    """SmolLM2's 1.8 MB header is longer than the first 1 MiB read: the header grows over HTTP."""
    path = model_path(KNOWN_MODELS["smollm2-135m"])
    if not path.exists():
        pytest.skip(f"{path} not downloaded")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        http_server.httpd.files["/smol.gguf"] = data
        remote = GGUFFile.open(open_model(http_server.url("/smol.gguf")))
        local = GGUFFile.open(FileSource(path))
        assert isinstance(remote.source, HttpRangeSource) and remote.tensors == local.tensors
        assert remote.metadata["tokenizer.ggml.merges"] == local.metadata["tokenizer.ggml.merges"]
        for name in ("token_embd.weight", "output_norm.weight"):
            assert bytes(remote.tensor_bytes(name)) == bytes(local.tensor_bytes(name))
        del http_server.httpd.files["/smol.gguf"]


def test_http_empty_file(http_server):
    assert HttpRangeSource(http_server.url("/empty")).size == 0


def test_server_ignoring_range_is_reported(http_server):
    http_server.httpd.files["/g.gguf"] = b"GGUF" + BLOB[4:]
    http_server.httpd.mode = "ignore-range"
    with pytest.raises(SourceError, match=r"/g.gguf: the server ignored the HTTP Range request"):
        HttpRangeSource(http_server.url("/g.gguf"))


def test_web_page_answered_with_200_is_not_a_model(http_server):
    http_server.httpd.files["/page"] = b"<!DOCTYPE html><html>" + b"x" * 5000
    http_server.httpd.mode = "ignore-range"
    with pytest.raises(SourceError, match=r"/page: the URL does not serve a model file \(HTTP 200"):
        HttpRangeSource(http_server.url("/page"))


def test_range_dropped_after_open_is_reported(http_server):
    http_server.httpd.files["/g.gguf"] = b"GGUF" + BLOB[4:]
    source = HttpRangeSource(http_server.url("/g.gguf"), chunk_size=4096)
    http_server.httpd.mode = "ignore-range"
    with pytest.raises(SourceError, match="ignored the HTTP Range request"):
        source.read(10, 10)


@pytest.mark.parametrize("mode, pattern", [
    ("wrong-start", r"bad answer to Range bytes=10-4105 \(HTTP 206"),
    ("short-body", r"at offset 10"),
])
def test_bad_range_answers_are_reported(http_server, mode, pattern):
    source = HttpRangeSource(http_server.url("/blob"), chunk_size=4096)
    http_server.httpd.mode = mode
    with pytest.raises(SourceError, match=re.escape(http_server.url("/blob")) + ".*" + pattern):
        source.read(10, 4096)


def test_http_error_names_the_url(http_server):
    url = http_server.url("/missing.gguf")
    with pytest.raises(SourceError, match=re.escape(url) + ": HTTP 404"):
        HttpRangeSource(url)


def test_connection_refused_names_the_url():
    with socket.socket() as s:  # a port that was just free and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/m.gguf"
    with pytest.raises(SourceError, match=re.escape(url) + ": cannot connect"):
        HttpRangeSource(url)
