// Run a Python script inside Pyodide 0.29.3 under Node, with numpy, as the page's worker would.
//
//   node tests/pyodide_node/run.mjs [--mount DIR]... SCRIPT.py [ARGS...]
//
// Pyodide comes from node_modules/pyodide (npm ci), numpy from the local wheel mirror
// ($MINFER_PYODIDE_MIRROR, default ~/.cache/minfer-wasm/pyodide-mirror). The repository root,
// the script's folder and every --mount DIR are mounted (NODEFS) at their own paths, so host paths
// mean the same inside (relative ones too when the working folder is one of them); the
// repository root goes first on sys.path. The script runs as __main__
// with sys.argv = [SCRIPT, ...ARGS]; its exit status becomes this process's.
// Exit status 3 with one line on stderr: the numpy wheel is not in the mirror.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const NUMPY_WHEEL = "numpy-2.2.5-cp313-cp313-pyodide_2025_0_wasm32.whl";

const args = process.argv.slice(2);
const mounts = [REPO];
while (args[0] === "--mount") {
  mounts.push(path.resolve(args[1]));
  args.splice(0, 2);
}
if (!args.length) {
  console.error("usage: node run.mjs [--mount DIR]... SCRIPT.py [ARGS...]");
  process.exit(2);
}
const script = path.resolve(args[0]);
args[0] = script;
mounts.push(path.dirname(script));

const mirror = process.env.MINFER_PYODIDE_MIRROR || path.join(os.homedir(), ".cache", "minfer-wasm", "pyodide-mirror");
const wheel = path.join(mirror, NUMPY_WHEEL);
if (!fs.existsSync(wheel)) {
  console.error(`Pyodide's numpy wheel is missing: put ${NUMPY_WHEEL} into ${mirror}`);
  process.exit(3);
}

const { loadPyodide } = await import(path.join(REPO, "node_modules", "pyodide", "pyodide.mjs"));
const py = await loadPyodide({
  indexURL: path.join(REPO, "node_modules", "pyodide") + "/",
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
await py.loadPackage(wheel, { messageCallback: () => {} });

for (const dir of new Set(mounts)) {
  py.FS.mkdirTree(dir);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: dir }, dir);
}
// relative paths in ARGS mean what they mean here when the working folder is mounted
const cwd = process.cwd();
const inside = mounts.some((dir) => cwd === dir || cwd.startsWith(dir + path.sep));
py.globals.set("_argv", py.toPy(args));
py.globals.set("_repo", REPO);
py.globals.set("_cwd", inside ? cwd : null);
let status;
try {
  status = await py.runPythonAsync(`
import os, runpy, sys
sys.path.insert(0, _repo)
if _cwd:
    os.chdir(_cwd)
sys.argv = list(_argv)
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    _status = 0
except SystemExit as e:
    _status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if not isinstance(e.code, int) and e.code is not None:
        print(e.code, file=sys.stderr)
_status
`);
} catch (e) {   // a Python exception: its traceback, not Pyodide's minified JS source
  process.stderr.write(`${e.message}\n`);
  status = 1;
}
process.exit(status);
