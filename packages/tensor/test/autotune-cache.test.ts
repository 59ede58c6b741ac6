// Matmul autotune rankings persist per adapter and driver in a directory the user can clear.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { autotuneCacheDir, loadRankings, saveRankings } from '../src/backends/webgpu/autotune-cache.js';

const ADAPTER =
  'mesa / software / llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)|subgroups=true|maxWorkgroups=65535|tiled32';
const RANKINGS = { 'k|float32|b0|m8n8k8|nna': [{ variant: 'tiled32', ms: 1.5 }] };
let dir: string;
const saved = process.env.KILN_AUTOTUNE_CACHE;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-autotune-'));
  process.env.KILN_AUTOTUNE_CACHE = dir;
});
afterEach(() => {
  process.env.KILN_AUTOTUNE_CACHE = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('the matmul autotune cache', () => {
  it('stores rankings per adapter key and reads them back', async () => {
    expect(await autotuneCacheDir()).toBe(dir);
    expect(await loadRankings(ADAPTER)).toEqual({});
    await saveRankings(ADAPTER, RANKINGS);
    expect(await loadRankings(ADAPTER)).toEqual(RANKINGS);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^mesa-software-llvmpipe-mesa-25-0-7.*-[0-9a-f]{8}\.json$/);
  });

  it('keeps another driver version apart', async () => {
    await saveRankings(ADAPTER, RANKINGS);
    expect(await loadRankings(ADAPTER.replace('25.0.7', '25.1.0'))).toEqual({});
  });

  it('ignores a damaged or foreign file (it only means tuning again)', async () => {
    await saveRankings(ADAPTER, RANKINGS);
    const file = join(dir, readdirSync(dir)[0]);
    writeFileSync(file, '{ not json');
    expect(await loadRankings(ADAPTER)).toEqual({});
    writeFileSync(file, JSON.stringify({ format: 999, adapter: ADAPTER, rankings: RANKINGS }));
    expect(await loadRankings(ADAPTER)).toEqual({});
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe(999);
  });

  it('is off with KILN_AUTOTUNE_CACHE=0', async () => {
    process.env.KILN_AUTOTUNE_CACHE = '0';
    expect(await autotuneCacheDir()).toBeNull();
    await saveRankings(ADAPTER, RANKINGS);
    expect(readdirSync(dir)).toEqual([]);
  });
});
