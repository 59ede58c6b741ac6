// What a published package's manifest must look like, derived from its development manifest, and
// the checks every package under packages/ must pass before it is packed. Used by dry-run.mjs and
// by `node scripts/release/manifest.mjs --write` (which fixes what can be fixed mechanically).
//
// In the workspace, `exports` carries the `@kiln/source` condition (tests, tsc -b and examples
// read src/ directly). A user must never see it: it points into src/, which is not shipped. pnpm
// replaces `exports`, `main`, `types` and `bin` by `publishConfig`'s at pack and publish time, so
// `publishConfig.exports` is `exports` without that condition, kept in sync here.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const packagesDir = join(repoRoot, 'packages');

/** The condition that points into src/ in the workspace only. */
export const SOURCE_CONDITION = '@kiln/source';
/** Packages that hold no per-process state and so stay ordinary dependencies of the others. */
export const STATELESS = new Set(['@kiln/tokenizer']);
/** What goes into every tarball (npm adds package.json, README and LICENSE anyway). */
export const FILES = [
  'dist',
  '!dist/**/*.map',
  '!dist/**/*.tsbuildinfo',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
];
/** The version a package carries until its first release, so that `changeset version` makes it 0.1.0. */
export const UNRELEASED = '0.0.0';

/** Every publishable package: `{ dir, manifest }` for packages/<name>/package.json that is not private. */
export function publishablePackages() {
  const out = [];
  for (const entry of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(packagesDir, entry.name);
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    if (!manifest.private) out.push({ dir, manifest });
  }
  return out.sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

/** `exports` with the source condition removed at every level. */
export function stripSourceCondition(value) {
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== SOURCE_CONDITION)
      .map(([key, v]) => [key, stripSourceCondition(v)]),
  );
}

/** The `publishConfig` a package must carry. */
export function expectedPublishConfig(manifest) {
  const config = { access: 'public', exports: stripSourceCondition(manifest.exports) };
  if (manifest.main) config.main = manifest.main;
  if (manifest.types) config.types = manifest.types;
  if (manifest.bin) config.bin = manifest.bin;
  return config;
}

/**
 * Moves `@kiln/*` dependencies that share state (every Kiln package but the stateless ones) to
 * `peerDependencies`, keeping a `devDependencies` entry so the workspace still links them: two
 * copies of @kiln/tensor in one app (npm's answer to a version mismatch) would each keep their own
 * backends and Tensor class.
 */
export function moveKilnDepsToPeers(manifest) {
  const deps = manifest.dependencies ?? {};
  for (const [name, range] of Object.entries(deps)) {
    if (!name.startsWith('@kiln/') || STATELESS.has(name)) continue;
    manifest.peerDependencies = { ...manifest.peerDependencies, [name]: range };
    manifest.devDependencies = { ...manifest.devDependencies, [name]: range };
    delete deps[name];
  }
  if (manifest.dependencies && Object.keys(manifest.dependencies).length === 0) delete manifest.dependencies;
}

/** Problems with a package as it would be published; empty when it is ready to pack. */
export function manifestProblems({ dir, manifest }) {
  const name = manifest.name;
  const problems = [];
  const need = (ok, message) => ok || problems.push(`${name}: ${message}`);
  need(manifest.type === 'module', `"type": "module" is missing (Kiln packages are ESM only)`);
  need(manifest.engines?.node === '>=22.12', `"engines": { "node": ">=22.12" } is missing`);
  need(manifest.exports?.['.'], 'exports["."] is missing');
  need(
    JSON.stringify(manifest.publishConfig) === JSON.stringify(expectedPublishConfig(manifest)),
    'publishConfig is out of date with exports (run `node scripts/release/manifest.mjs --write`)',
  );
  need(
    JSON.stringify(manifest.files) === JSON.stringify(FILES),
    `"files" must be ${JSON.stringify(FILES)} (src/ and source maps stay out of the tarball)`,
  );
  need(manifest.scripts?.prepack, 'scripts.prepack is missing (packing an unbuilt checkout ships no dist/)');
  need(
    manifest.license === 'MIT' && existsSync(join(dir, 'LICENSE')),
    'needs "license": "MIT" and a LICENSE file',
  );
  need(existsSync(join(dir, 'README.md')), 'needs a README.md');
  need(
    existsSync(join(dir, 'CHANGELOG.md')),
    'needs a CHANGELOG.md (a "# <name>" heading; changesets fills it)',
  );
  need(
    existsSync(join(dir, 'consumer', 'smoke.ts')),
    'needs consumer/smoke.ts: the script the release dry run runs and type-checks against the packed tarball',
  );
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    need(!dep.startsWith('@kiln/') || STATELESS.has(dep), `${dep} must be a peerDependency (shared state)`);
  }
  for (const dep of Object.keys(manifest.peerDependencies ?? {})) {
    need(
      manifest.devDependencies?.[dep],
      `peer ${dep} needs a matching devDependency (the workspace links it)`,
    );
  }
  if (existsSync(join(dir, 'README.md'))) {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    need(
      !/\]\((?!https?:|#|mailto:)[^)]+\)/.test(readme),
      'README.md has relative links (they break on npm; use absolute URLs)',
    );
    need(readme.includes(`npm install ${name}`), `README.md needs an install line (\`npm install ${name}\`)`);
  }
  return problems;
}

/** Rewrites what can be derived: publishConfig, files, peers, LICENSE, CHANGELOG heading, prepack. */
export function writeManifests() {
  const license = readFileSync(join(repoRoot, 'LICENSE'), 'utf8');
  for (const { dir, manifest } of publishablePackages()) {
    moveKilnDepsToPeers(manifest);
    manifest.files = FILES;
    manifest.scripts = { ...manifest.scripts, prepack: manifest.scripts?.prepack ?? 'tsc -b' };
    manifest.publishConfig = expectedPublishConfig(manifest);
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (!existsSync(join(dir, 'LICENSE'))) writeFileSync(join(dir, 'LICENSE'), license);
    if (!existsSync(join(dir, 'CHANGELOG.md')))
      writeFileSync(join(dir, 'CHANGELOG.md'), `# ${manifest.name}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) writeManifests();
  const problems = publishablePackages().flatMap(manifestProblems);
  for (const p of problems) console.error(`  ${p}`);
  if (problems.length) process.exit(1);
  console.log('every package manifest is ready to pack');
}
