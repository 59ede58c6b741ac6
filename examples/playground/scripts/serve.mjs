// A tiny static server for dist/ (no dependencies): `node scripts/serve.mjs [port]`.
// Exported `serve()` is what the browser test uses.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

const dist = join(import.meta.dirname, '..', 'dist');
const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.map': 'application/json',
  '.json': 'application/json',
};

/** Serves dist/ on `port` (0: any free port) of 127.0.0.1; resolves with its URL and a close(). */
export async function serve(port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0])).replace(/^(\.\.[/\\])+/, '');
    const file = join(dist, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await serve(Number(process.argv[2] ?? 8080));
  console.log(
    `playground at ${url} (Chromium: WebGPU is on by default; on Linux start it with --enable-unsafe-webgpu)`,
  );
}
