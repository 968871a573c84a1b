/* The page's Python packages (numpy, markupsafe, jinja2 and the engine), installed from the one
 * gzipped tar that build-site writes (minfer_wasm/native/site_packages.py): fetched and unpacked
 * in JS while Python starts, then written straight into Pyodide's site-packages. Pyodide's own
 * loadPackage unpacks wheels in Python and loads all of numpy's shared libraries up front; here
 * they load when an import first needs them.
 *
 *   const files = fetchPackages(url);          // at once: Promise<[{path, bytes}]>
 *   installPackages(py, await files);          // once Python runs: the number of files written
 */

const BLOCK = 512;                      // a tar header, and the unit file contents are padded to
const GZIP_MAGIC = [0x1f, 0x8b];

/* The bundle's bytes, gunzipped (a server may have sent it decoded already). */
async function tarBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const text = (bytes, start, length) => {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
};

/* The regular files of a ustar archive: [{path, bytes}] (bytes are views into `tar`). */
function untar(tar) {
  const files = [];
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const name = text(tar, at, 100);
    if (!name) break;                                   // two zero blocks end the archive
    const size = parseInt(text(tar, at + 124, 12).trim(), 8);
    const type = String.fromCharCode(tar[at + 156]);
    const prefix = text(tar, at + 345, 155);
    const path = prefix ? `${prefix}/${name}` : name;
    if (!Number.isSafeInteger(size) || size < 0 || at + BLOCK + size > tar.length) {
      throw new Error(`package bundle: entry ${path} is cut off or has no size`);
    }
    if (path.startsWith("/") || path.split("/").includes("..")) {
      throw new Error(`package bundle: entry ${path} would land outside site-packages`);
    }
    if (type === "0" || type === "\0") files.push({ path, bytes: tar.subarray(at + BLOCK, at + BLOCK + size) });
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

export async function fetchPackages(url) {
  return untar(await tarBytes(url));
}

/* Python's site-packages folder (on sys.path from the start), and forgetting what its import
   finder had listed there. importlib.invalidate_caches() would do it too, but first imports
   importlib.metadata: 0.2 s in a fresh worker. */
const SITE = "next(p for p in sys.path if p.endswith('/site-packages'))";

export function installPackages(py, files) {
  const site = py.runPython(`import sys; ${SITE}`);
  for (const { path, bytes } of files) {
    const dest = `${site}/${path}`;
    py.FS.mkdirTree(dest.slice(0, dest.lastIndexOf("/")));
    py.FS.writeFile(dest, bytes);
  }
  py.runPython(`sys.path_importer_cache.pop(${SITE}, None)`);
  return files.length;
}
