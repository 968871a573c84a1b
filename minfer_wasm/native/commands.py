"""Running the external tools the native side needs (pip, npm), with failures in one line.

A tool that fails says why somewhere in its output, then often closes with lines that say
nothing ("hint: See above for details.", "npm error A complete log of this run can be found
in: ..."). The error we raise names the line that says why.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import SourceError

# pip's lines that never carry the cause: hints, notes, warnings, bracketed markers ("[notice]",
# "[end of output]"), error codes ("error: subprocess-exited-with-error") and the summaries it
# closes a failed build with. What is left last is the cause, often a line of the build's own
# output that pip drew in a box ("│ error: invalid command 'bdist_wheel'").
_PIP_NOISE = re.compile("|".join([
    r"^(hint|note|warning):", r"^\[", r"^error: [a-z]+(-[a-z]+)+$", r"see above for",
    r"did not run successfully", r"^exit code:", r"^encountered error while",
    r"failed building wheel for", r"^failed to build", r"could not build wheels for",
]), re.IGNORECASE)
_BOX = " \t│╰─>×"
# npm prefixes every error line; the message follows its `code`/`errno`/`syscall` lines.
_NPM_ERROR = re.compile(r"^npm (?:ERR!|error)\s?(.*)$")
_NPM_DETAIL = re.compile(r"^((code|errno|syscall|path) \S+|A complete log of this run)")


def failure_cause(output: str) -> str | None:
    """The line of a failed pip or npm run that says why, or None when no line does."""
    lines = [line.strip(_BOX) for line in output.splitlines()]
    npm = [m.group(1).strip() for m in map(_NPM_ERROR.match, lines) if m]
    if npm:
        return next((line for line in npm if line and not _NPM_DETAIL.match(line)), None)
    return next((line for line in reversed(lines) if line and not _PIP_NOISE.search(line)), None)


def run_tool(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run `cmd` and return its stdout; on failure, SourceError "<what> failed: <cause>"."""
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:
        raise SourceError(f"{what} failed: cannot run {cmd[0]} ({e.strerror or e})") from None
    if result.returncode != 0:
        cause = (failure_cause(result.stderr) or failure_cause(result.stdout)
                 or f"{Path(cmd[0]).name} exited with status {result.returncode}")
        raise SourceError(f"{what} failed: {cause}")
    return result.stdout
