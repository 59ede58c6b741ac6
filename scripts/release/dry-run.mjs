#!/usr/bin/env node
// Release dry run: what a library author gets from npm, checked before anything is published.
//
//   node scripts/release/dry-run.mjs [--sizes] [--keep]
//
// 1. every packages/* manifest passes manifest.mjs's checks (publishConfig, files, peers,
//    LICENSE, CHANGELOG, README install line, consumer/smoke.ts), and `changeset version`, run
//    on a copy of the manifests and changesets, makes each unreleased (0.0.0) package 0.1.0;
// 2. `pnpm pack` of each package (its prepack builds dist/), and each tarball is inspected: no
//    src/, no source maps, no `@kiln/source` condition, no `workspace:` range, dist/ present;
// 3. a scratch consumer outside the workspace installs the tarballs with plain npm, offline: the
//    third-party packages the tarballs need (@webgpu/types, …) and @types/node are packed from the
//    workspace's own node_modules, so no registry is contacted (`webgpu` is an optional peer and
//    is deliberately absent: the tensor smoke test checks the error that names its install);
// 4. in the consumer: every export of every package loads with `import` and with `require()`,
//    each package's consumer/smoke.ts runs, and tsc type-checks them all with
//    `skipLibCheck: false`, `lib: ["es2023"]` + @types/node, under `nodenext` and `bundler`;
// 5. `@kiln/tokenizer` installed alone pulls no binary (no .node file, no `webgpu`);
//    with --sizes, every package is installed alone and its install size printed.
//
// Everything runs under a deadline (KILN_DRY_RUN_TIMEOUT_S, default 300 s).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  manifestProblems,
  publishablePackages,
  repoRoot,
  SOURCE_CONDITION,
  UNRELEASED,
} from './manifest.mjs';

const args = new Set(process.argv.slice(2));
const deadline = Date.now() + Number(process.env.KILN_DRY_RUN_TIMEOUT_S ?? 300) * 1000;
const started = Date.now();
const log = (message) => console.log(`[dry-run +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

/** Runs a command with what is left of the deadline; throws with its output when it fails. */
function run(command, argv, options = {}) {
  const left = deadline - Date.now();
  if (left <= 0) throw new Error(`release dry run: out of time before \`${command} ${argv.join(' ')}\``);
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: left, ...options });
  if (result.status !== 0) {
    throw new Error(
      `\`${command} ${argv.join(' ')}\` failed (${result.error?.message ?? `exit ${result.status}`}) in ${options.cwd ?? repoRoot}:\n${result.stdout}${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Disk usage of a directory in bytes (apparent sizes of files, as npm reports). */
function duBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Walks up from `fromDir` to the `node_modules/<name>` a Node resolution would find (real path). */
function findPackageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) throw new Error(`cannot find ${name} from ${fromDir}; run pnpm install`);
  }
}

const packages = publishablePackages();
const names = packages.map((p) => p.manifest.name);

// 1. manifests and versions
const problems = packages.flatMap(manifestProblems);
for (const { manifest } of packages) {
  if (manifest.version !== UNRELEASED && !/^\d+\.\d+\.\d+/.test(manifest.version)) {
    problems.push(`${manifest.name}: version '${manifest.version}' is not semver`);
  }
}
// what `changeset version` would do, run for real on a copy of the manifests and changesets
const versionDir = mkdtempSync(join(tmpdir(), 'kiln-changeset-version-'));
const tracked = run('git', ['ls-files', '-co', '--exclude-standard'], { cwd: repoRoot })
  .split('\n')
  .filter((f) => /(^|\/)(package\.json|CHANGELOG\.md)$|^\.changeset\/|^pnpm-workspace\.yaml$/.test(f));
for (const file of tracked) {
  if (!existsSync(join(repoRoot, file))) continue;
  mkdirSync(dirname(join(versionDir, file)), { recursive: true });
  cpSync(join(repoRoot, file), join(versionDir, file));
}
symlinkSync(join(repoRoot, 'node_modules'), join(versionDir, 'node_modules'));
run(join(repoRoot, 'node_modules', '.bin', 'changeset'), ['version'], { cwd: versionDir });
for (const { dir, manifest } of packages) {
  const rel = dir.slice(repoRoot.length + 1);
  const next = JSON.parse(readFileSync(join(versionDir, rel, 'package.json'), 'utf8')).version;
  const changelog = readFileSync(join(versionDir, rel, 'CHANGELOG.md'), 'utf8');
  // unreleased: CHANGELOG.md has no version section yet (only its heading)
  const released = /^## /m.test(readFileSync(join(dir, 'CHANGELOG.md'), 'utf8'));
  if (!released && manifest.version !== UNRELEASED) {
    problems.push(
      `${manifest.name}: never released (no version in CHANGELOG.md) but at version ${manifest.version}; set it to ${UNRELEASED} so that \`changeset version\` makes the first release 0.1.0`,
    );
  } else if (!released && next !== UNRELEASED && next !== '0.1.0') {
    problems.push(
      `${manifest.name}: \`changeset version\` would make its first release ${next}, not 0.1.0 (use minor changesets before the first release)`,
    );
  }
  if (!changelog.startsWith(`# ${manifest.name}\n`)) {
    problems.push(
      `${manifest.name}: after \`changeset version\`, CHANGELOG.md does not start with "# ${manifest.name}"`,
    );
  }
}
rmSync(versionDir, { recursive: true, force: true });
if (problems.length) {
  console.error(`release dry run: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
log(`${packages.length} manifests ready: ${names.join(', ')}`);

// 2. pack
const work = mkdtempSync(join(tmpdir(), 'kiln-release-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const tarballOf = new Map();
for (const { dir, manifest } of packages) {
  const out = run('pnpm', ['pack', '--pack-destination', tarballs, '--json'], { cwd: dir });
  const filename = JSON.parse(out.slice(out.indexOf('{'))).filename;
  tarballOf.set(manifest.name, filename);
  const listing = run('tar', ['-tzf', filename]).split('\n').filter(Boolean);
  const packed = JSON.parse(run('tar', ['-xzOf', filename, 'package/package.json']));
  const bad = [];
  if (listing.some((f) => f.startsWith('package/src/'))) bad.push('ships src/');
  if (listing.some((f) => f.endsWith('.map'))) bad.push('ships source maps');
  if (!listing.includes('package/dist/index.js')) bad.push('has no dist/index.js (prepack did not build)');
  if (!listing.includes('package/LICENSE')) bad.push('has no LICENSE');
  if (JSON.stringify(packed).includes(SOURCE_CONDITION)) bad.push(`keeps the ${SOURCE_CONDITION} condition`);
  if (JSON.stringify(packed).includes('workspace:')) bad.push('keeps a workspace: range');
  if (bad.length) throw new Error(`${manifest.name} tarball ${filename}: ${bad.join(', ')}`);
  log(`packed ${manifest.name}: ${listing.length} files, ${(statSync(filename).size / 1024).toFixed(0)} kB`);
}

// third-party packages the tarballs need, packed from the workspace's node_modules (offline)
const thirdParty = new Map(); // name → tarball
function packThirdParty(name, fromDir) {
  if (thirdParty.has(name)) return;
  const dir = findPackageDir(name, fromDir);
  const out = run('npm', ['pack', dir, '--pack-destination', tarballs, '--ignore-scripts', '--json'], {
    cwd: work,
  });
  thirdParty.set(name, join(tarballs, JSON.parse(out)[0].filename));
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies ?? {})) packThirdParty(dep, dir);
}
for (const { dir, manifest } of packages) {
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    if (!names.includes(dep)) packThirdParty(dep, dir);
  }
}
packThirdParty('@types/node', repoRoot);
log(`packed ${thirdParty.size} third-party packages from node_modules: ${[...thirdParty.keys()].join(', ')}`);

/** A consumer project outside the workspace with `specs` installed by npm, offline. */
function consumer(name, specs) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2));
  run(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', ...specs],
    { cwd: dir, env: { ...process.env, npm_config_cache: join(work, 'npm-cache') } },
  );
  return dir;
}

/** The Kiln tarballs `name` needs: itself and its @kiln dependencies and peers, transitively. */
function kilnClosure(name, into = new Set()) {
  if (into.has(name)) return into;
  into.add(name);
  const { manifest } = packages.find((p) => p.manifest.name === name);
  for (const dep of [
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]) {
    if (names.includes(dep)) kilnClosure(dep, into);
  }
  return into;
}

// 3. the consumer with everything
const app = consumer('app', [...tarballOf.values(), ...thirdParty.values()]);
log(`installed ${names.length} tarballs into ${app} with npm --offline`);

// 4. every export loads both ways; smoke scripts run; tsc passes
const specifiers = packages.flatMap(({ manifest }) =>
  Object.keys(manifest.exports).map((sub) =>
    sub === '.' ? manifest.name : `${manifest.name}/${sub.slice(2)}`,
  ),
);
writeFileSync(
  join(app, 'load-all.mjs'),
  `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
for (const s of ${JSON.stringify(specifiers)}) {
  const esm = await import(s);
  const cjs = require(s);
  if (Object.keys(esm).length === 0 || Object.keys(cjs).length === 0) throw new Error(s + ' exports nothing');
}
console.log('loaded ${specifiers.length} entries with import and require()');
`,
);
log(run('node', ['load-all.mjs'], { cwd: app }).trim());

const [major, minor] = process.versions.node.split('.').map(Number);
const stripTypes = major > 23 || (major === 23 && minor >= 6) ? [] : ['--experimental-strip-types'];
const smokeFiles = [];
for (const { dir, manifest } of packages) {
  const file = `${manifest.name.split('/')[1]}.smoke.ts`;
  cpSync(join(dir, 'consumer', 'smoke.ts'), join(app, file));
  smokeFiles.push(file);
  const t0 = Date.now();
  const out = run('node', [...stripTypes, '--no-warnings', file], {
    cwd: app,
    env: { ...process.env, KILN_BACKEND: '' },
  });
  log(`${file} ran in ${Date.now() - t0} ms: ${out.trim().split('\n').at(-1)}`);
}
// every entry, so the type check covers the `node` subpaths too
writeFileSync(
  join(app, 'entries.ts'),
  specifiers
    .map((s, i) => `import * as entry${i} from '${s}';\nconsole.log(Object.keys(entry${i}).length);\n`)
    .join(''),
);
smokeFiles.push('entries.ts');
const tsc = join(findPackageDir('typescript', repoRoot), 'bin', 'tsc');
for (const moduleResolution of ['nodenext', 'bundler']) {
  const tsconfig = {
    compilerOptions: {
      target: 'es2023',
      lib: ['es2023'],
      types: ['node'],
      module: moduleResolution === 'nodenext' ? 'nodenext' : 'esnext',
      moduleResolution,
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      allowImportingTsExtensions: true,
    },
    files: smokeFiles,
  };
  writeFileSync(join(app, `tsconfig.${moduleResolution}.json`), JSON.stringify(tsconfig, null, 2));
  run('node', [tsc, '-p', `tsconfig.${moduleResolution}.json`], { cwd: app });
  log(
    `tsc (${moduleResolution}, skipLibCheck false, lib es2023 + @types/node) passed on ${smokeFiles.length} smoke files`,
  );
}

// a second copy of @kiln/tensor (what npm nests on a version mismatch) is named at start-up
const nested = join(app, 'node_modules', '@kiln', 'autograd', 'node_modules', '@kiln', 'tensor');
cpSync(join(app, 'node_modules', '@kiln', 'tensor'), nested, { recursive: true });
writeFileSync(
  join(app, 'two-copies.mjs'),
  `import { init } from '@kiln/tensor';
import '@kiln/autograd';
try {
  await init({ backend: 'cpu' });
  throw new Error('init started with two copies of @kiln/tensor loaded');
} catch (error) {
  if (!/loaded 2 times/.test(error.message)) throw error;
  console.log('two copies of @kiln/tensor: ' + error.message.slice(0, 70) + '…');
}
`,
);
log(run('node', ['two-copies.mjs'], { cwd: app }).trim());
rmSync(nested, { recursive: true });

// 5. install sizes; the tokenizer alone pulls no binary
const sizes = [];
for (const name of args.has('--sizes') ? names : ['@kiln/tokenizer']) {
  const closure = [...kilnClosure(name)];
  const deps = new Set();
  for (const n of closure) {
    const { manifest } = packages.find((p) => p.manifest.name === n);
    for (const d of Object.keys(manifest.dependencies ?? {})) if (!names.includes(d)) deps.add(d);
  }
  const transitive = (d, into) => {
    if (into.has(d)) return;
    into.add(d);
    const m = JSON.parse(
      execFileSync('tar', ['-xzOf', thirdParty.get(d), 'package/package.json'], { encoding: 'utf8' }),
    );
    for (const dd of Object.keys(m.dependencies ?? {})) transitive(dd, into);
  };
  const all = new Set();
  for (const d of deps) transitive(d, all);
  const dir = consumer(`alone-${name.split('/')[1]}`, [
    ...closure.map((n) => tarballOf.get(n)),
    ...[...all].map((d) => thirdParty.get(d)),
  ]);
  const files = readdirSync(join(dir, 'node_modules'), { recursive: true }).map(String);
  const binaries = files.filter((f) => f.endsWith('.node') || f.split(/[\\/]/).includes('webgpu'));
  if (name === '@kiln/tokenizer' && binaries.length) {
    throw new Error(`@kiln/tokenizer alone installs binaries: ${binaries.slice(0, 5).join(', ')}`);
  }
  const bytes = duBytes(join(dir, 'node_modules'));
  sizes.push({ name, packages: closure.length + all.size, bytes });
  log(
    `${name} alone: ${closure.length + all.size} packages, ${(bytes / 1e6).toFixed(2)} MB in node_modules${binaries.length ? '' : ', no binary'}`,
  );
}
if (args.has('--sizes')) {
  console.log('\n| package | packages installed | install size |\n| --- | --- | --- |');
  for (const s of sizes) console.log(`| \`${s.name}\` | ${s.packages} | ${(s.bytes / 1e6).toFixed(2)} MB |`);
}

if (!args.has('--keep')) rmSync(work, { recursive: true, force: true });
else log(`kept ${work}`);
log('release dry run passed');
