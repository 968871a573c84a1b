"""minfer_wasm.native.serve over real HTTP: byte ranges (RFC 9110 section 14), MIME types, folders."""

import http.client
import threading

import numpy as np
import pytest

from minfer_wasm.native.serve import make_server

DATA = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "model.gguf").write_bytes(DATA)
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<!doctype html><title>sub</title>")
    for name in ("a.wasm", "a.mjs", "a.js", "a.json", "a.whl", "a.css", "index.html"):
        (root / name).write_bytes(b"x")
    httpd = make_server(root, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[:2]
    httpd.shutdown()
    httpd.server_close()


def get(base, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection(*base, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_whole_file_says_it_accepts_ranges(base):
    response, body = get(base, "/model.gguf")
    assert response.status == 200
    assert body == DATA
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("Content-Length") == str(len(DATA))


@pytest.mark.parametrize("spec, start, end", [
    ("bytes=10-19", 10, 19),
    ("bytes=0-0", 0, 0),
    ("bytes=990-", 990, 999),
    ("bytes=-5", 995, 999),
    ("bytes=995-5000", 995, 999),        # a last byte past the end is clipped
    ("bytes=-5000", 0, 999),             # so is a suffix longer than the file
])
def test_single_range_is_partial_content(base, spec, start, end):
    response, body = get(base, "/model.gguf", {"Range": spec})
    assert response.status == 206
    assert body == DATA[start:end + 1]
    assert response.getheader("Content-Range") == f"bytes {start}-{end}/{len(DATA)}"
    assert response.getheader("Content-Length") == str(end - start + 1)


@pytest.mark.parametrize("spec", ["bytes=1000-1001", "bytes=20-10", "bytes=-0"])
def test_unsatisfiable_range_is_416(base, spec):
    response, body = get(base, "/model.gguf", {"Range": spec})
    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{len(DATA)}"
    assert body == b""


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-1", "bytes=-"])
def test_ranges_it_does_not_serve_get_the_whole_file(base, spec):
    response, body = get(base, "/model.gguf", {"Range": spec})
    assert response.status == 200
    assert body == DATA


def test_head_has_headers_and_no_body(base):
    response, body = get(base, "/model.gguf", {"Range": "bytes=0-9"}, method="HEAD")
    assert response.status == 206
    assert response.getheader("Content-Length") == "10"
    assert body == b""


@pytest.mark.parametrize("name, mime", [
    ("a.wasm", "application/wasm"),
    ("a.mjs", "text/javascript"),
    ("a.js", "text/javascript"),
    ("a.json", "application/json"),
    ("a.whl", "application/zip"),
    ("model.gguf", "application/octet-stream"),
    ("a.css", "text/css"),
    ("index.html", "text/html"),
])
def test_mime_types(base, name, mime):
    response, _ = get(base, f"/{name}")
    assert response.getheader("Content-Type").split(";")[0] == mime


def test_folders_redirect_to_a_slash_and_serve_their_index(base):
    response, _ = get(base, "/sub?x=1")
    assert response.status == 301
    assert response.getheader("Location") == "/sub/?x=1"
    response, body = get(base, "/sub/")
    assert response.status == 200
    assert b"<title>sub</title>" in body


@pytest.mark.parametrize("path", ["/missing.gguf", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"])
def test_missing_and_outside_paths_are_404(base, path):
    response, _ = get(base, path)
    assert response.status == 404
