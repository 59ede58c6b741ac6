// Runs the first-steps benchmark (steps.ts) in headless Chromium, with WebGPU on the browser's
// own adapter (SwiftShader when there is no GPU): bundles page.ts with esbuild, serves it on
// localhost, starts Chromium with a DevTools port and awaits `window.firstSteps` over the
// DevTools protocol (Node's WebSocket; no browser-automation package needed). One fresh browser
// per run, so every run starts with cold pipelines.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { FirstStepsRun } from './steps.js';

/** Where Debian's chromium package puts the browser; `BENCH_CHROMIUM` overrides. */
export const CHROMIUM = process.env.BENCH_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a headless browser on a closed machine, with WebGPU on SwiftShader when there is no GPU. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

let bundle: Promise<string> | undefined;

/** page.ts and everything it imports, bundled once per process for the browser. */
function pageBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [join(import.meta.dirname, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@kiln/source'],
    write: false,
    logLevel: 'silent',
  }).then((result) => result.outputFiles[0].text);
  return bundle;
}

const html = (waitMode: string) => `<!doctype html><meta charset="utf-8"><title>first steps</title>
<script>globalThis.process = { env: { KILN_WEBGPU_WAIT: ${JSON.stringify(waitMode)} } };</script>
<script type="module" src="page.js"></script>`;

/** Serves the page and its bundle on a free localhost port. */
async function serve(waitMode: string): Promise<{ url: string; close: () => void }> {
  const js = await pageBundle();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html(waitMode));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

/** A minimal DevTools-protocol client: `send(method, params)` resolves with the reply's result. */
async function devtools(wsUrl: string) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot connect to Chromium's DevTools at ${wsUrl}`));
  });
  let next = 0;
  const waiting = new Map<number, (reply: { result?: unknown; error?: { message: string } }) => void>();
  ws.onmessage = (event) => {
    const reply = JSON.parse(String(event.data));
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  };
  const send = (method: string, params: object = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++next;
      waiting.set(id, (reply) =>
        reply.error
          ? reject(new Error(`${method}: ${reply.error.message}`))
          : resolve(reply.result as Record<string, unknown>),
      );
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/** Polls Chromium's DevTools endpoint until it lists a page target. */
async function pageTarget(port: number, deadline: number): Promise<string> {
  for (;;) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        type: string;
        webSocketDebuggerUrl: string;
      }[];
      const page = targets.find((t) => t.type === 'page');
      if (page) return page.webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error('Chromium did not open its DevTools port in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Runs `steps` first steps of gpt2-tiny at `batch × context` in a fresh headless Chromium;
 * `waitMode` is `KILN_WEBGPU_WAIT` for the page (`plain` or `paced`).
 */
export async function firstStepsInChromium(
  steps: number,
  batch: number,
  context: number,
  waitMode: string,
  timeoutMs = 5 * 60_000,
): Promise<FirstStepsRun> {
  const deadline = performance.now() + timeoutMs;
  const server = await serve(waitMode);
  const profile = mkdtempSync(join(tmpdir(), 'kiln-chromium-'));
  const port = 9300 + Math.floor(Math.random() * 500);
  const chrome = spawn(
    CHROMIUM,
    [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, `--remote-debugging-port=${port}`, 'about:blank'],
    {
      stdio: 'ignore',
    },
  );
  try {
    const client = await devtools(await pageTarget(port, deadline));
    try {
      await client.send('Page.navigate', {
        url: `${server.url}?steps=${steps}&batch=${batch}&context=${context}`,
      });
      // the module sets window.firstSteps when it runs: wait for it, then for its promise
      const expression = `new Promise((resolve, reject) => { const t0 = Date.now(); (function poll() {
        if (globalThis.firstSteps) globalThis.firstSteps.then(resolve, (e) => reject(String(e && e.stack || e)));
        else if (Date.now() - t0 > 30000) reject('the page did not start the benchmark');
        else setTimeout(poll, 50); })(); })`;
      const reply = await client.send('Runtime.evaluate', {
        expression,
        awaitPromise: true,
        returnByValue: true,
        timeout: Math.max(1000, deadline - performance.now()),
      });
      const details = reply.exceptionDetails as
        | { exception?: { value?: unknown; description?: string } }
        | undefined;
      if (details)
        throw new Error(`in Chromium: ${details.exception?.value ?? details.exception?.description}`);
      return (reply.result as { value: FirstStepsRun }).value;
    } finally {
      client.close();
    }
  } finally {
    chrome.kill();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
