// Byte-compile the .py files under FOLDER with the page's own Python (Pyodide's CPython, run by
// Node), so the bytecode matches the interpreter that imports it; used by site_packages.py.
//
//   node pyc_compile.mjs PYODIDE_DIR FOLDER
//
// Each a/b.py gets a/__pycache__/b.cpython-3XX.pyc, an "unchecked hash" pyc (PEP 552): the import
// system loads it without looking at the source's time stamp, which the page's file system
// cannot keep (files written there all get the time of writing), and never recompiles it. The
// code objects name their files as they will be in the page, <site-packages>/a/b.py (not FOLDER):
// tracebacks read right, and the same sources give the same bytes.
// Exit status 0, or 1 with the reason on stderr.

import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, folder] = process.argv.slice(2).map((p) => path.resolve(p));
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: pyodideDir + path.sep, stderr: (line) => process.stderr.write(line + "\n") });
py.FS.mkdirTree(folder);
py.FS.mount(py.FS.filesystems.NODEFS, { root: folder }, folder);
py.globals.set("folder", folder);
const ok = py.runPython(`
import compileall, py_compile, sys
site = next(p for p in sys.path if p.endswith("/site-packages"))
compileall.compile_dir(folder, quiet=1, workers=1, stripdir=folder, prependdir=site,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
`);
process.exit(ok ? 0 : 1);
