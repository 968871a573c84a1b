"""Hostile chat templates (tests/hostile_templates.py): a table of named cases, then generated
ones (seeded).

Every case must end in a TemplateError (a MinferError) whose message is one line under 300
characters, within TIME_BOUND seconds, with at most MEMORY_BOUND bytes allocated at its peak
(tracemalloc), and without a warning or a printed line. The module's last line in the test
report is a table of the outcomes: tried, clean, and the count of each kind of error.
"""

from collections import Counter
import time
import tracemalloc
import warnings

import pytest

from hostile_templates import GENERATED, MESSAGES, NAMED
from minfer_wasm.chat_template import ChatTemplate
from minfer_wasm.errors import MinferError, TemplateError

TIME_BOUND = 3.0               # the render budget is 1 s; the rest is slack for a busy machine
MEMORY_BOUND = 64 << 20
TALLY = Counter()


def outcome(error: TemplateError) -> str:
    """The kind of error: TemplateError's wording, or what Python raised inside the template."""
    for kind in ("exceeded its render budget", "tried a forbidden operation", "has a syntax error",
                 "used an undefined value", "raised an error", "recursed too deeply"):
        if kind in str(error):
            return kind
    return f"failed ({type(error.__cause__).__name__})"


def run_hostile(source: str, capsys, tally: bool = True) -> str:
    """Compile and render `source` (a template that fails to compile fails at render time);
    the checks every case must pass, counted in TALLY."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracemalloc.start()
        start = time.perf_counter()
        try:
            with pytest.raises(MinferError) as info:
                ChatTemplate(source, "hostile").render(MESSAGES)
        finally:
            elapsed = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    message = str(info.value)
    tally = TALLY if tally else Counter()
    tally["tried"] += 1
    assert type(info.value) is TemplateError
    assert "\n" not in message and len(message) < 300, message
    assert elapsed < TIME_BOUND, f"{elapsed:.2f} s: {message}"
    assert peak < MEMORY_BOUND, f"{peak >> 20} MiB: {message}"
    assert not caught, [str(w.message) for w in caught]
    assert capsys.readouterr() == ("", "")
    tally["clean"] += 1
    tally[outcome(info.value)] += 1
    return message


@pytest.fixture(scope="module", autouse=True)
def report_tally(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if TALLY["tried"] and reporter is not None and capture is not None:
        rows = " | ".join(f"{k}: {v}" for k, v in TALLY.most_common())
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nhostile templates: {rows}")


@pytest.mark.parametrize("name", NAMED)
def test_named_hostile_template(name, capsys):
    run_hostile(NAMED[name], capsys)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_hostile_template(name, capsys):
    run_hostile(GENERATED[name], capsys)


def test_escapes_are_refused_as_forbidden_not_by_chance(capsys):
    # the escape cases fail because the sandbox refuses them, not because of a budget or typo
    escapes = [name for name in NAMED if "__" in NAMED[name] or name in ("mutation", "dict mutation")]
    assert len(escapes) >= 15
    for name in escapes:
        assert "tried a forbidden operation" in run_hostile(NAMED[name], capsys, tally=False), name
