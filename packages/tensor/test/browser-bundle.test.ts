/**
 * Every package's main entry, and each of its subpaths except the Node-only `node` ones, must
 * bundle for the browser: esbuild `--platform=browser` with the `@kiln/source` condition, as an
 * app's bundler would see the sources. Node-only code (file I/O) belongs behind a `node` subpath
 * (`@kiln/tensor/node`, `@kiln/transformer/node`).
 *
 * The entries are read from packages/<name>/package.json `exports`, so a new package or subpath
 * is checked without editing this file. This test lives in @kiln/tensor because every package
 * sits on it; it imports nothing from the other packages.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, formatMessages, type Message } from 'esbuild';
import { describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '..', '..', '..');
const packagesDir = join(repoRoot, 'packages');

/** A subpath is Node-only when its last segment is `node` (`./node`, `./foo/node`). */
const isNodeOnly = (subpath: string): boolean => subpath === './node' || subpath.endsWith('/node');

interface Entry {
  /** What users import, e.g. `@kiln/tensor/safetensors`. */
  specifier: string;
  /** The source file behind it (the `@kiln/source` condition), absolute. */
  file: string;
}

/** The browser-facing entries of every package under packages/ (main entry first). */
function browserEntries(): Entry[] {
  const entries: Entry[] = [];
  for (const dir of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    const packageDir = join(packagesDir, dir.name);
    let manifest: { name: string; exports?: Record<string, unknown> };
    try {
      manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    } catch {
      continue; // not a package (no package.json)
    }
    const exports = manifest.exports ?? {};
    if (!('.' in exports)) {
      throw new Error(`${manifest.name}: package.json has no exports['.']; every package needs a main entry`);
    }
    for (const [subpath, target] of Object.entries(exports)) {
      if (isNodeOnly(subpath)) continue;
      const source = (target as Record<string, unknown> | null)?.['@kiln/source'];
      if (typeof source !== 'string') {
        throw new Error(
          `${manifest.name}: exports['${subpath}'] has no '@kiln/source' condition; give it one pointing at its src/*.ts file`,
        );
      }
      entries.push({
        specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
        file: join(packageDir, source),
      });
    }
  }
  return entries;
}

/** esbuild's errors (formatted as on its command line) when bundling `input` for the browser; empty on success. */
async function browserBundleErrors(input: { file: string } | { source: string }): Promise<string[]> {
  try {
    const result = await build({
      ...('file' in input
        ? { entryPoints: [input.file] }
        : { stdin: { contents: input.source, resolveDir: repoRoot, loader: 'ts' } }),
      absWorkingDir: repoRoot,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      conditions: ['@kiln/source'],
      write: false,
      logLevel: 'silent',
    });
    return formatMessages(result.errors, { kind: 'error', color: false });
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors;
    if (!errors) throw error;
    return formatMessages(errors, { kind: 'error', color: false });
  }
}

const entries = browserEntries();

describe('browser bundles', () => {
  it('finds every package main entry and the browser-safe subpaths', () => {
    const specifiers = entries.map((e) => e.specifier);
    expect(specifiers).toEqual(expect.arrayContaining(['@kiln/tensor', '@kiln/tensor/safetensors']));
    expect(specifiers).not.toContain('@kiln/tensor/node');
    expect(specifiers.length).toBeGreaterThanOrEqual(5);
  });

  it('the check catches a Node built-in import', async () => {
    const errors = await browserBundleErrors({
      source: "import { readFile } from 'node:fs/promises';\nreadFile('x');",
    });
    expect(errors.join('\n')).toMatch(/Could not resolve "node:fs\/promises"/);
  });

  it.each(entries)('$specifier bundles with --platform=browser', async ({ specifier, file }) => {
    const errors = await browserBundleErrors({ file });
    expect(
      errors.join('\n'),
      `${specifier} (${file}) must bundle for the browser; move Node-only code behind a 'node' subpath`,
    ).toBe('');
  });
});
