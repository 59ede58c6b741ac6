// Bundles the page with esbuild into dist/ (app.js + index.html): the Kiln packages from source
// (the workspace's `@kiln/source` condition) and the bundled texts through `define`. Prints the
// bundle size; `--minify` for the sizes in docs/browser.md.
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { loadTexts } from './texts.mjs';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });
const minify = process.argv.includes('--minify');
await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile: join(dist, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['@kiln/source'],
  define: { __KILN_TEXTS__: JSON.stringify(loadTexts()) },
  minify,
  sourcemap: !minify,
  logLevel: 'warning',
});
copyFileSync(join(root, 'index.html'), join(dist, 'index.html'));
const kB = (statSync(join(dist, 'app.js')).size / 1024).toFixed(0);
console.log(`playground: dist/app.js ${kB} kB${minify ? ' (minified)' : ''}, texts included`);
