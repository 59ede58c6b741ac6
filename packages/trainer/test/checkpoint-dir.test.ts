import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointDir, type CheckpointStage, checkpointDirName } from '../src/node.js';

let root: string;
let dir: string;
beforeEach(async () => {
  root ??= await mkdtemp(join(tmpdir(), 'kiln-checkpoints-'));
  dir = await mkdtemp(join(root, 'run-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const filesFor = (step: number) => ({
  'model.safetensors': new Uint8Array([step, 1, 2, 3]),
  'trainer-state.json': JSON.stringify({ step, sampler: { seed: 1, counter: step * 8 } }),
});

describe('CheckpointDir', () => {
  it('saves a checkpoint as step-N with a manifest and a latest pointer', async () => {
    const checkpoints = new CheckpointDir(dir);
    const info = await checkpoints.save(42, filesFor(42));
    expect(info.path).toBe(join(dir, 'step-00000042'));
    expect(info.files).toEqual({
      'model.safetensors': 4,
      'trainer-state.json': filesFor(42)['trainer-state.json'].length,
    });
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-00000042']);
    expect(await readFile(join(dir, 'latest'), 'utf8')).toBe('step-00000042\n');
    expect((await readdir(info.path)).sort()).toEqual([
      'manifest.json',
      'model.safetensors',
      'trainer-state.json',
    ]);

    const latest = (await checkpoints.latest())!;
    expect(latest.step).toBe(42);
    expect([...(await checkpoints.read(latest, 'model.safetensors'))]).toEqual([42, 1, 2, 3]);
    expect(JSON.parse(await checkpoints.readText(latest, 'trainer-state.json')).sampler.counter).toBe(336);
    await expect(checkpoints.read(latest, 'optimizer.bin')).rejects.toThrow(
      /has no file optimizer\.bin; it has model\.safetensors, trainer-state\.json/,
    );
  });

  it('writes files through a callback, one at a time', async () => {
    const checkpoints = new CheckpointDir(dir);
    await checkpoints.save(1, async (writer) => {
      await writer.write('a.bin', [new Uint8Array([1, 2]), new Uint8Array([3])]);
      await writer.write('b.json', '{}');
    });
    expect((await checkpoints.latest())!.files).toEqual({ 'a.bin': 3, 'b.json': 2 });
  });

  it('keeps only the last K checkpoints, deleting old ones after the new one is complete', async () => {
    const checkpoints = new CheckpointDir(dir, { keep: 2 });
    for (const step of [100, 200, 300, 400]) await checkpoints.save(step, filesFor(step % 256));
    expect((await checkpoints.list()).map((c) => c.step)).toEqual([300, 400]);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-00000300', 'step-00000400']);
  });

  it('returns nothing for an empty or missing directory', async () => {
    expect(await new CheckpointDir(join(dir, 'nope')).latest()).toBeUndefined();
    expect(await new CheckpointDir(dir).list()).toEqual([]);
  });

  it('a failure between file writes leaves no trace and the previous checkpoint intact', async () => {
    const checkpoints = new CheckpointDir(dir, { keep: 1 });
    await checkpoints.save(1, filesFor(1));
    await expect(
      checkpoints.save(2, async (writer) => {
        await writer.write('model.safetensors', new Uint8Array(1000));
        throw new Error('simulated crash while writing the optimizer state');
      }),
    ).rejects.toThrow(/simulated crash/);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-00000001']);
    expect((await checkpoints.latest())!.step).toBe(1);
  });

  it('a reader sees a complete old or new checkpoint at every stage of a save, even if it crashes there', async () => {
    const stages: CheckpointStage[] = ['files-written', 'renamed', 'latest-updated'];
    for (const crashAt of stages) {
      const runDir = await mkdtemp(join(root, `crash-${crashAt}-`));
      const seen: [CheckpointStage, number][] = [];
      const observer = new CheckpointDir(runDir);
      const checkpoints = new CheckpointDir(runDir, {
        keep: 1,
        onStage: async (stage, step) => {
          const latest = await observer.latest();
          if (!latest) {
            // Only before the very first checkpoint is renamed into place is there nothing to read.
            expect([stage, step]).toEqual(['files-written', 1]);
            return;
          }
          seen.push([stage, latest.step]);
          // Whatever is visible is complete: its manifest lists every file with the right size.
          expect(Object.keys(latest.files).sort()).toEqual(['model.safetensors', 'trainer-state.json']);
          if (step === 2 && stage === crashAt) throw new Error(`crash at ${stage}`);
        },
      });
      await checkpoints.save(1, filesFor(1));
      await expect(checkpoints.save(2, filesFor(2))).rejects.toThrow(`crash at ${crashAt}`);
      // After the "crash", a fresh reader resumes from a complete checkpoint.
      const resumed = (await new CheckpointDir(runDir).latest())!;
      expect(resumed.step).toBe(crashAt === 'files-written' ? 1 : 2);
      expect([...(await observer.read(resumed, 'model.safetensors'))][0]).toBe(resumed.step);
      // During the second save the reader saw step 1 until the rename, step 2 from then on.
      const during = seen.slice(2).map(([stage, step]) => `${stage}:${step}`);
      expect(during).toEqual(
        ['files-written:1', 'renamed:2', 'latest-updated:2'].slice(0, stages.indexOf(crashAt) + 1),
      );
    }
  });

  it('ignores leftovers of a hard crash and removes them on the next save', async () => {
    const checkpoints = new CheckpointDir(dir);
    await checkpoints.save(5, filesFor(5));
    // What a killed process can leave behind: a temp dir, a temp pointer file, and a copied-in
    // step directory with a file missing or cut short.
    await mkdir(join(dir, '.tmp-step-6-abc123'));
    await writeFile(join(dir, '.tmp-step-6-abc123', 'model.safetensors'), 'partial');
    await writeFile(join(dir, '.latest.tmp-deadbeef'), 'step-00000006');
    await mkdir(join(dir, 'step-00000007'));
    await writeFile(join(dir, 'step-00000007', 'model.safetensors'), 'no manifest');
    await mkdir(join(dir, 'step-00000008'));
    await writeFile(
      join(dir, 'step-00000008', 'manifest.json'),
      JSON.stringify({
        format: 'kiln-checkpoint',
        version: 1,
        step: 8,
        sequence: 99,
        files: { 'model.safetensors': { bytes: 10 } },
      }),
    );
    await writeFile(join(dir, 'step-00000008', 'model.safetensors'), 'short');
    await writeFile(join(dir, 'latest'), 'step-00000008\n'); // the pointer is not trusted: manifests decide

    expect((await checkpoints.latest())!.step).toBe(5);
    expect((await checkpoints.list()).map((c) => c.step)).toEqual([5]);
    expect((await checkpoints.removeStaleTemp()).sort()).toEqual([
      '.latest.tmp-deadbeef',
      '.tmp-step-6-abc123',
    ]);
    await mkdir(join(dir, '.tmp-step-9-xyz'));
    await checkpoints.save(9, filesFor(9));
    expect((await readdir(dir)).filter((e) => e.startsWith('.'))).toEqual([]);
    expect((await checkpoints.latest())!.step).toBe(9);
  });

  it('treats the most recently saved checkpoint as latest, even at a lower step (a run restarted from an older one)', async () => {
    const checkpoints = new CheckpointDir(dir, { keep: 2 });
    await checkpoints.save(10, filesFor(10));
    await checkpoints.save(20, filesFor(20));
    await checkpoints.save(15, filesFor(15));
    expect((await checkpoints.latest())!.step).toBe(15);
    expect((await checkpoints.list()).map((c) => [c.step, c.sequence])).toEqual([
      [20, 2],
      [15, 3],
    ]);
    await checkpoints.save(16, filesFor(16)); // the abandoned step 20 is now the oldest save and goes
    expect((await checkpoints.list()).map((c) => c.step)).toEqual([15, 16]);
    expect(await readFile(join(dir, 'latest'), 'utf8')).toBe('step-00000016\n');
  });

  it('refuses to overwrite a step unless asked, and validates names and steps', async () => {
    const checkpoints = new CheckpointDir(dir);
    await checkpoints.save(3, filesFor(3));
    await expect(checkpoints.save(3, filesFor(4))).rejects.toThrow(
      /step-00000003 already exists; pass \{ overwrite: true \}/,
    );
    await checkpoints.save(3, filesFor(4), { overwrite: true });
    expect([...(await checkpoints.read((await checkpoints.latest())!, 'model.safetensors'))][0]).toBe(4);
    await expect(checkpoints.save(4, { '../escape': 'x' })).rejects.toThrow(
      /invalid file name "\.\.\/escape"/,
    );
    await expect(checkpoints.save(4, { 'manifest.json': 'x' })).rejects.toThrow(
      /invalid file name "manifest\.json"/,
    );
    await expect(
      checkpoints.save(4, async (w) => {
        await w.write('a', 'x');
        await w.write('a', 'y');
      }),
    ).rejects.toThrow(/file a was written twice/);
    await expect(checkpoints.save(-1, {})).rejects.toThrow(/step must be a non-negative integer, got -1/);
    expect(() => new CheckpointDir(dir, { keep: 0 })).toThrow(/keep must be a positive integer, got 0/);
    expect((await readdir(dir)).filter((e) => e.startsWith('.'))).toEqual([]);
    expect(checkpointDirName(123456789)).toBe('step-123456789');
  });
});
