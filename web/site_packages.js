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

/* `body` as a stream of tar bytes: gunzipped as it arrives, unless the server sent the file
   decoded already (Content-Encoding): its first bytes tell. */
async function tarStream(body) {
  const reader = body.getReader();
  const first = await reader.read();
  const gzip = !first.done && first.value[0] === 0x1f && first.value[1] === 0x8b;
  const stream = new ReadableStream({
    start(controller) { if (!first.done) controller.enqueue(first.value); },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) { return reader.cancel(reason); },
  });
  return gzip ? stream.pipeThrough(new DecompressionStream("gzip")) : stream;
}

/* The whole tar in one buffer; the compressed bytes only ever pass through in pieces. */
async function tarBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await new Response(await tarStream(response.body)).arrayBuffer());
}

const decoder = new TextDecoder();
const text = (bytes, start, length) => {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
};

/* The regular files of a ustar archive: [{path, bytes}] (bytes are views into `tar`, which
   Pyodide's file system then keeps: the tar's 13 MB are the files, not a copy of them). */
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
    py.FS.writeFile(dest, bytes, { canOwn: true });   // kept as the view it is: no copy, no garbage
  }
  py.runPython(`sys.path_importer_cache.pop(${SITE}, None)`);
  return files.length;
}
