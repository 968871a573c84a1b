"""Running the external tools the native side needs (pip, npm), with failures in one line.

A tool that fails explains itself somewhere in its output, then often closes with lines that
say nothing ("hint: See above for details.", "npm error A complete log of this run can be
found in: ..."). The error we raise names the tool's last line that is not such noise.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import SourceError

# Lines that never carry the cause: pip's hints, notes, warnings and bracketed markers
# ("[notice] ...", "[end of output]"), npm's notices and log pointers.
_NOISE = re.compile(r"^(hint:|note:|warning:|\[|npm (notice|warn)\b)|see above for|"
                    r"a complete log of this run|^npm (err!|error)$", re.IGNORECASE)
# pip draws a subprocess's output inside a box: "│ error: ...", "╰─> [12 lines of output]".
_DECORATION = " \t│╰─>"


def last_meaningful_line(output: str) -> str | None:
    """The last line of `output` that says something, without box decoration; None if none does."""
    for line in reversed(output.splitlines()):
        line = line.strip(_DECORATION)
        if line and not _NOISE.search(line):
            return line
    return None


def run_tool(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run `cmd` and return its stdout; on failure, SourceError "<what> failed: <cause>"."""
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:
        raise SourceError(f"{what} failed: cannot run {cmd[0]} ({e.strerror or e})") from None
    if result.returncode != 0:
        cause = (last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout)
                 or f"{Path(cmd[0]).name} exited with status {result.returncode}")
        raise SourceError(f"{what} failed: {cause}")
    return result.stdout
