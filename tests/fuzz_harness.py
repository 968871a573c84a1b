"""Runs hostile inputs and classifies how each one ended (the fuzz suites' common bar).

A case is clean when it ends within its time bound (CPU seconds of its thread, so that a busy
machine does not fail it, or wall seconds for network cases; a case still running after ten
times that in wall time is a hang)
and its memory bound, prints no warning,
and either succeeds or raises a typed MinferError subclass whose message is one line of fewer
than MAX_MESSAGE characters. Anything else is a failure, counted by class:
`untyped:<Exception>`, `long-message`, `multi-line`, `slow`, `hang`, `memory`, `warning`.

Each suite adds its outcomes to TALLIES; conftest.py prints them as one table at the end.
"""

from __future__ import annotations

import contextlib
import io
import resource
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

from minfer_wasm.errors import MinferError

MAX_MESSAGE = 300
TALLIES: dict[str, "Tally"] = {}      # suite name -> its counts, in the order suites ran


@dataclass
class Outcome:
    name: str
    kind: str           # "ok", a MinferError subclass name, or a failure class
    clean: bool
    message: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.name}: {self.kind} ({self.seconds:.2f} s) {self.message[:200]}"


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(o.kind for o in self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.clean]


def tally(suite: str) -> Tally:
    return TALLIES.setdefault(suite, Tally())


def _vm_bytes() -> int | None:
    """This process's mapped address space (Linux /proc), or None where unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@contextlib.contextmanager
def memory_bound(extra_bytes: int):
    """Let this process map at most `extra_bytes` more while the block runs (RLIMIT_AS), so a
    case that allocates by an unchecked number fails with MemoryError instead of swapping."""
    used = _vm_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if used is None:
        yield
        return
    limit = used + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_case(suite: str, name: str, target, *, seconds: float, memory: int = 1 << 30,
             clock: str = "cpu") -> Outcome:
    """Run target() in a thread under the bounds; record and return how it ended. `seconds`
    bounds the thread's CPU time (clock="cpu") or, for cases that wait on a network, the wall
    time (clock="wall")."""
    result: dict = {}
    printed = io.StringIO()

    def body():
        cpu = time.thread_time() if clock == "cpu" else time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(printed):
            warnings.simplefilter("always")
            try:
                target()
                result["kind"] = "ok"
            except MinferError as e:
                result["error"] = e
            except MemoryError:
                result["kind"] = "memory"
            except BaseException as e:   # noqa: BLE001 - a fuzz case classifies every ending
                result["kind"], result["message"] = f"untyped:{type(e).__name__}", str(e)[:200]
            result["warnings"] = [str(w.message) for w in caught]
        result["cpu"] = (time.thread_time() if clock == "cpu" else time.perf_counter()) - cpu

    start = time.perf_counter()
    with memory_bound(memory):
        worker = threading.Thread(target=body, daemon=True, name=f"fuzz {name}")
        worker.start()
        worker.join(seconds * (10 if clock == "cpu" else 2))
    outcome = Outcome(name, "hang", False, "", time.perf_counter() - start)
    if not worker.is_alive():
        outcome = _classify(name, result, printed.getvalue(), result["cpu"], seconds)
    tally(suite).outcomes.append(outcome)
    return outcome


def _classify(name: str, result: dict, printed: str, elapsed: float, seconds: float) -> Outcome:
    kind, message = result.get("kind"), result.get("message", "")
    clean = kind == "ok"
    if "error" in result:
        error = result["error"]
        message, kind, clean = str(error), type(error).__name__, False
        if type(error) is MinferError:
            kind = "untyped:MinferError"        # the base class says nothing about what failed
        elif "\n" in message:
            kind = "multi-line"
        elif len(message) >= MAX_MESSAGE:
            kind = "long-message"
        else:
            clean = True
    if clean and (result.get("warnings") or printed.strip()):
        kind, message, clean = "warning", (result.get("warnings") or [printed])[0][:200], False
    elif clean and elapsed > seconds:
        kind, clean = "slow", False
    return Outcome(name, kind, clean, message, elapsed)


def summary_lines() -> list[str]:
    """The table of every suite's counts: tried, clean, then each ending."""
    lines = []
    for suite, t in TALLIES.items():
        counts = t.counts()
        clean = sum(1 for o in t.outcomes if o.clean)
        endings = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines.append(f"{suite:10s} tried {len(t.outcomes):4d}  clean {clean:4d}  "
                     f"failed {len(t.outcomes) - clean:3d}  | {endings}")
    return lines
