/**
 * Every package under packages/ is ready to publish: the checks of the release dry run that need
 * no packing (scripts/release/manifest.mjs: publishConfig in sync with exports, files, prepack,
 * peers for shared-state @kiln packages, LICENSE, CHANGELOG, README install line and absolute
 * links, consumer/smoke.ts). Lives here, beside the browser-bundle test, because every package
 * sits on @kiln/tensor; the full dry run (pack, npm install, smoke scripts, tsc) is
 * scripts/release/dry-run.mjs, run by .ci/run.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import {
  expectedPublishConfig,
  manifestProblems,
  publishablePackages,
} from '../../../scripts/release/manifest.mjs';

const packages: { dir: string; manifest: Record<string, any> }[] = publishablePackages();

describe('release manifests', () => {
  it('finds the packages', () => {
    expect(packages.map((p) => p.manifest.name)).toEqual(
      expect.arrayContaining(['@kiln/tensor', '@kiln/tokenizer']),
    );
  });

  it('strips the workspace-only @kiln/source condition from the published exports', () => {
    const tensor = packages.find((p) => p.manifest.name === '@kiln/tensor')!;
    expect(JSON.stringify(expectedPublishConfig(tensor.manifest))).not.toContain('@kiln/source');
    expect(tensor.manifest.peerDependenciesMeta?.webgpu?.optional).toBe(true);
    expect(tensor.manifest.dependencies?.webgpu).toBeUndefined();
  });

  it.each(packages.map((p) => [p.manifest.name, p]))('%s is ready to pack', (_name, p) => {
    expect(manifestProblems(p)).toEqual([]);
  });
});
