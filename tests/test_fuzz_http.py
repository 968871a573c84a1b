"""Fuzzing model downloads: hostile HTTP servers on loopback, named cases then generated ones.

Each case opens a model URL as the CLI does (open_model with small DownloadLimits) and reads
its header, config and tokenizer. The bar (fuzz_harness.py): a typed MinferError with a
one-line message under 300 characters, or success; within the deadline plus a small slack
in wall time, under the memory bound, with no warnings.
"""

import mmap
import zlib

import numpy as np
import pytest

from fuzz_harness import run_case
from hostile_http import HostileServer
from minfer_wasm.config import ModelConfig
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native.http_source import DownloadLimits
from minfer_wasm.native.model_store import KNOWN_MODELS, model_path, open_model
from minfer_wasm.tokenizer import Tokenizer

TICK = 0.1              # the 5 s between pieces, scaled down 50x
LIMITS = DownloadLimits(deadline=3.0, min_rate=64 * 1024, rate_window=0.5, max_redirects=5)
SLACK = 2.0             # wall seconds a case may run past its deadline
GENERATED = 20


@pytest.fixture(scope="module")
def server():
    path = model_path(KNOWN_MODELS["smollm2-135m"])
    if not path.exists():
        pytest.skip(f"{path} not downloaded")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        hostile = HostileServer(data, tick=TICK)
        yield hostile
        hostile.close()


def read_model(url: str, limits: DownloadLimits) -> None:
    """What the CLI does first with a URL: open it, parse the header, read config and tokenizer."""
    metadata = GGUFFile.open(open_model(url, limits=limits)).metadata
    ModelConfig.from_metadata(metadata)
    Tokenizer.from_metadata(metadata)


def check(server, name: str, behaviour: str, limits: DownloadLimits = LIMITS):
    return run_case("http", name, lambda: read_model(server.url(behaviour), limits),
                    seconds=limits.deadline + SLACK, clock="wall")


# (name, behaviour path, expected ending, text the message holds, deadline if not LIMITS')
NAMED = [
    ("honest server", "honest", "ok", "", None),
    ("one redirect", "redirect-once", "ok", "", None),
    ("chunked 206", "chunked", "ok", "", None),
    ("1 KiB per tick", "drip/1024", "SourceError", "download too slow", None),
    ("steady but past the deadline", "drip/32768", "SourceError", "deadline of 1 s passed", 1.0),
    ("headers trickled past the deadline", "drip-headers", "SourceError", "deadline of 1 s", 1.0),
    ("accept then silence", "silence", "SourceError", "stalled", None),
    ("silence mid-body", "silence-after-head", "SourceError", "stalled", None),
    ("close without answering", "close", "SourceError", "closed the connection", None),
    ("short body", "short-body", "SourceError", "", None),
    ("redirect loop", "redirect-loop", "SourceError", "too many redirects", None),
    ("redirect chain", "redirect-chain/0", "SourceError", "too many redirects", None),
    ("redirect to file:", "redirect-file", "SourceError", "HTTP 302", None),
    ("HTML page with 200", "html", "SourceError", "does not serve a model file", None),
    ("whole file with 200", "whole-file", "SourceError", "ignored the HTTP Range request", None),
    ("wrong Content-Range start", "wrong-start", "SourceError", "bad answer to Range", None),
    ("Content-Range total changes", "wrong-total", "SourceError", "did the file change", None),
    ("Content-Range total 2^70", "huge-total", None, "", None),
    ("206 without Content-Range", "no-content-range", "SourceError", "unexpected answer", None),
    ("5000-digit Content-Range", "bad-content-range", "SourceError", "unexpected answer", None),
    ("garbage status line", "garbage", "SourceError", "not a valid HTTP answer", None),
    ("20 kB reason phrase", "long-reason", "SourceError", "HTTP 500", None),
    ("500 header lines", "many-headers", "SourceError", "not a valid HTTP answer", None),
    ("negative Content-Length", "bad-length", "SourceError", "", None),
    ("404", "nothing-here", "SourceError", "HTTP 404", None),
    ("status 204", "status/204", "SourceError", "", None),
    ("status 100 then nothing", "status/100", "SourceError", "", None),
]


@pytest.mark.parametrize("name, behaviour, expect, needle, deadline", NAMED, ids=[c[0] for c in NAMED])
def test_named_server_behaviour(server, name, behaviour, expect, needle, deadline):
    limits = LIMITS if deadline is None else DownloadLimits(
        deadline=deadline, min_rate=LIMITS.min_rate, rate_window=LIMITS.rate_window,
        max_redirects=LIMITS.max_redirects)
    outcome = check(server, name, behaviour, limits)
    assert outcome.clean, str(outcome)
    if expect is not None:
        assert outcome.kind == expect and needle in outcome.message, str(outcome)


def generated_behaviours(count: int):
    """(name, behaviour, limits) from a seeded generator: trickles of random piece sizes, answers
    cut at random bytes, random status codes, redirect chains starting anywhere, random limits."""
    rng = np.random.default_rng(zlib.crc32(b"fuzz-http"))
    for i in range(count):
        kind = ("drip", "cut", "status", "redirect-chain")[i % 4]
        arg = {"drip": lambda: int(rng.integers(64, 1 << 17)),
               "cut": lambda: int(rng.integers(0, 300)),
               "status": lambda: int(rng.integers(100, 600)),
               "redirect-chain": lambda: int(rng.integers(0, 10))}[kind]()
        limits = DownloadLimits(deadline=float(rng.uniform(0.5, 2.0)),
                                min_rate=float(rng.uniform(8, 256)) * 1024,
                                rate_window=float(rng.uniform(0.3, 0.6)),
                                max_redirects=int(rng.integers(0, 6)))
        yield f"#{i} {kind}/{arg}", f"{kind}/{arg}", limits


def test_generated_server_behaviours(server):
    failures = [str(o) for o in (check(server, name, behaviour, limits)
                                 for name, behaviour, limits in generated_behaviours(GENERATED))
                if not o.clean]
    assert not failures, "\n".join(failures)
