#!/usr/bin/env node
// Bundle size of every browser entry of every package (esbuild --platform=browser --minify,
// tree-shaken from `import * as m` and all of it kept), raw and gzipped: the numbers in
// docs/browser.md. `node scripts/release/bundle-sizes.mjs`.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { publishablePackages } from './manifest.mjs';

console.log('| entry | minified | gzip |\n| --- | --- | --- |');
for (const { dir, manifest } of publishablePackages()) {
  for (const subpath of Object.keys(manifest.exports)) {
    if (subpath === './node' || subpath.endsWith('/node')) continue;
    const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
    const result = await build({
      stdin: {
        contents: `export * from '${manifest.exports[subpath]['@kiln/source']}';`,
        resolveDir: dir,
        loader: 'js',
      },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['@kiln/source'],
      write: false,
      logLevel: 'silent',
    });
    const bytes = result.outputFiles[0].contents;
    const kB = (n) => `${(n / 1024).toFixed(0)} kB`;
    console.log(`| \`${specifier}\` | ${kB(bytes.length)} | ${kB(gzipSync(bytes).length)} |`);
  }
}
