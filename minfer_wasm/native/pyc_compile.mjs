// Byte-compile the .py files under FOLDER with the page's own Python (Pyodide's CPython, run by
// Node), so the bytecode matches the interpreter that imports it; used by site_packages.py and
// stdlib_zip.py.
//
//   node pyc_compile.mjs PYODIDE_DIR FOLDER site-packages|stdlib
//
// The code objects name their files where the page will have them (<site-packages>/a/b.py, or
// <python313.zip>/a/b.py), not FOLDER: tracebacks read right, and the same sources give the
// same bytes. Every .pyc is "unchecked hash" (PEP 552): imported without looking at the
// source's time stamp (the page's file system gives every file the time it was written) and
// never recompiled.
//   site-packages  a/b.py gets a/__pycache__/b.cpython-3XX.pyc; the source stays.
//   stdlib         a/b.py becomes a/b.pyc (sourceless, where zipimport looks for it).
// Exit status 0, or 1 with the reason on stderr.

import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, folder] = process.argv.slice(2, 4).map((p) => path.resolve(p));
const where = process.argv[4];
if (!["site-packages", "stdlib"].includes(where)) {
  process.stderr.write("usage: node pyc_compile.mjs PYODIDE_DIR FOLDER site-packages|stdlib\n");
  process.exit(1);
}
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: pyodideDir + path.sep, stderr: (line) => process.stderr.write(line + "\n") });
py.FS.mkdirTree(folder);
py.FS.mount(py.FS.filesystems.NODEFS, { root: folder }, folder);
py.globals.set("folder", folder);
py.globals.set("sourceless", where === "stdlib");
const failed = py.runPython(`
import pathlib, py_compile, sys
suffix = ".zip" if sourceless else "/site-packages"
prefix = next(p for p in sys.path if p.endswith(suffix))
failed = []
for source in sorted(pathlib.Path(folder).rglob("*.py")):
    rel = source.relative_to(folder).as_posix()
    target = source.with_suffix(".pyc") if sourceless else None
    try:
        py_compile.compile(str(source), cfile=target and str(target), dfile=f"{prefix}/{rel}", doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError as e:
        failed.append(f"{rel}: {e.msg.strip().splitlines()[-1]}")
        continue
    if sourceless:
        source.unlink()
"; ".join(failed)
`);
if (failed) process.stderr.write(`cannot compile ${failed}\n`);
process.exit(failed ? 1 : 0);
