#!/usr/bin/env node
// The playground in a real browser: builds the page, serves it, and drives headless Chromium
// (the system browser, through playwright-core) with WebGPU on (SwiftShader when there is no
// GPU). For each backend (webgpu, then cpu) it loads the page, starts training, waits until the
// loss falls below a threshold, checks that the loss curve is drawn and the attention map and a
// sample exist, pauses and resumes, downloads the three model files and checks that they load
// (modelFromFiles + Tokenizer.fromHuggingFace, as examples/chat does from a directory), saves a
// checkpoint to OPFS and reloads it. Saves screenshot.png of the webgpu run.
//
//   node scripts/browser-test.mjs [--backends=webgpu,cpu] [--screenshot=path]
//
// Chromium: KILN_CHROMIUM, else /usr/bin/chromium (Debian's `chromium` package). Exits 0 with a
// "skipped" line when there is none, 1 on failure. Bounded by KILN_BROWSER_TEST_TIMEOUT_S (180).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const root = join(import.meta.dirname, '..');
const arg = (name, fallback) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const backends = arg('backends', 'webgpu,cpu').split(',');
const screenshotPath = arg('screenshot', join(root, 'screenshot.png'));
const executablePath = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const deadline = Date.now() + Number(process.env.KILN_BROWSER_TEST_TIMEOUT_S ?? 180) * 1000;
/** The loss must fall below this: it starts at ln(vocab) ≈ 5.95 nats (uniform); the text's unigram entropy under this tokenizer is ≈ 4.85, which a minute of training reaches, not more. */
const THRESHOLD = Number(process.env.KILN_BROWSER_TEST_LOSS ?? 5.0);
const started = Date.now();
const log = (m) => console.log(`[browser +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);

if (!existsSync(executablePath)) {
  console.log(
    `browser test skipped: no Chromium at ${executablePath} (apt-get install chromium, or set KILN_CHROMIUM)`,
  );
  process.exit(0);
}

const { execFileSync } = await import('node:child_process');
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const server = await serve(0);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox',
    '--enable-unsafe-webgpu',
    '--enable-features=Vulkan',
    '--use-vulkan=swiftshader',
    '--use-webgpu-adapter=swiftshader',
  ],
  timeout: 30_000,
});

const left = () => Math.max(1000, deadline - Date.now());
const results = [];
let failed = false;
try {
  for (const backend of backends) {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1120, height: 900 },
    });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const t0 = Date.now();
    await page.goto(`${server.url}?backend=${backend}&preset=small&autostart=1`);
    const state = () => page.evaluate(() => globalThis.playground.state());
    // train until the loss falls below the threshold
    await page.waitForFunction(
      (threshold) => {
        const s = globalThis.playground?.state();
        if (s?.error) throw new Error(s.error);
        return s && s.losses.length > 0 && s.losses.at(-1) < threshold;
      },
      THRESHOLD,
      { timeout: left(), polling: 250 },
    );
    const trained = await state();
    const seconds = (Date.now() - t0) / 1000;
    if (trained.backend !== backend)
      throw new Error(`asked for ${backend}, the page runs on ${trained.backend}`);
    log(
      `${backend}: loss ${trained.losses[0].toFixed(3)} → ${trained.losses.at(-1).toFixed(3)} in ${trained.step} steps, ${seconds.toFixed(1)} s from load (${trained.tokensPerSecond.toFixed(0)} tokens/s)`,
    );

    // pause: the step counter stops; resume: it moves again
    await page.click('#pause');
    await page.waitForFunction(
      () => !globalThis.playground.state().running && /paused/.test(globalThis.playground.state().status),
      null,
      { timeout: left() },
    );
    const pausedAt = (await state()).step;
    await page.waitForTimeout(800);
    if ((await state()).step !== pausedAt) throw new Error('training went on while paused');
    await page.click('#pause');
    // ten more steps, so the page's tokens/s (a mean over the last ten steps) is a steady-state figure
    await page.waitForFunction((at) => globalThis.playground.state().step >= at + 10, pausedAt, {
      timeout: left(),
    });
    await page.click('#pause');
    await page.waitForFunction(() => /paused/.test(globalThis.playground.state().status), null, {
      timeout: left(),
    });
    const paused = await state();

    // the loss curve is drawn (orange pixels), the attention map too (blue pixels), and a sample exists
    const pixels = await page.evaluate(() => {
      const count = (id, test) => {
        const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (test(d[i], d[i + 1], d[i + 2])) n++;
        return n;
      };
      return {
        curve: count('lossCanvas', (r, g, b) => r > 180 && g < 120 && b < 60),
        attention: count('attnCanvas', (r, _g, b) => b > 200 && r < 200),
      };
    });
    if (pixels.curve < 200) throw new Error(`the loss curve is not drawn (${pixels.curve} curve pixels)`);
    if (pixels.attention < 50)
      throw new Error(`the attention pattern is not drawn (${pixels.attention} pixels)`);
    if (!paused.sample) throw new Error('no sample was generated');

    // download the three files and check that they make a model again
    await page.click('#prepare');
    await page.waitForSelector('#downloads a[download="tokenizer.json"]', { timeout: left() });
    const files = {};
    for (const name of ['model.safetensors', 'config.json', 'tokenizer.json']) {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: left() }),
        page.click(`#downloads a[download="${name}"]`),
      ]);
      const path = await download.path();
      files[name] = (await import('node:fs')).readFileSync(path);
    }
    const check = await checkFiles(files);
    log(
      `${backend}: downloaded ${Object.entries(files)
        .map(([n, b]) => `${n} ${(b.length / 1024).toFixed(0)} kB`)
        .join(', ')}; ${check}`,
    );

    if (backend === backends[0]) {
      await page.screenshot({ path: screenshotPath, fullPage: true });
      log(`screenshot: ${screenshotPath}`);
    }
    // OPFS checkpoint: save, then load it back into the page
    await page.click('#saveOpfs');
    await page.waitForFunction(() => /saved step/.test(globalThis.playground.state().status), null, {
      timeout: left(),
    });
    await page.click('#loadOpfs');
    await page.waitForFunction(
      () => /loaded from browser storage/.test(globalThis.playground.state().status),
      null,
      { timeout: left() },
    );
    log(`${backend}: checkpoint saved to OPFS and loaded back`);

    if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join('; ')}`);
    const tokensPerStep = 8 * 32; // the small preset's batch × context
    log(
      `${backend}: steady state ${(paused.tokensPerSecond / tokensPerStep).toFixed(2)} steps/s (${paused.tokensPerSecond.toFixed(0)} tokens/s)`,
    );
    results.push({
      backend,
      stepsToThreshold: trained.step,
      secondsToThreshold: seconds,
      steadyStepsPerSecond: paused.tokensPerSecond / tokensPerStep,
      firstLoss: trained.losses[0],
      lossAtThreshold: trained.losses.at(-1),
    });
    await context.close();
  }
} catch (error) {
  failed = true;
  console.error(`browser test FAILED: ${error.stack ?? error}`);
} finally {
  await browser.close();
  server.close();
}
if (results.length)
  writeFileSync(join(root, 'dist', 'browser-results.json'), `${JSON.stringify(results, null, 2)}\n`);
log(failed ? 'browser test failed' : `browser test passed (${backends.join(', ')})`);
process.exit(failed ? 1 : 0);

/** Loads the downloaded files as examples/chat would (in Node, CPU backend) and generates a few tokens. */
async function checkFiles(files) {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync: write, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-playground-download-'));
  for (const [name, bytes] of Object.entries(files)) write(join(dir, name), bytes);
  try {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@kiln/source', join(root, 'scripts', 'check-download.ts'), dir],
      { cwd: root, encoding: 'utf8', timeout: left() },
    );
    return out.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
