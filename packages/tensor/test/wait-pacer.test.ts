/**
 * The WebGPU executor's wait pacing (when to sleep instead of polling the device), over
 * synthetic clocks: what it learns from, how fast a wrong estimate is corrected, and that an
 * accurate estimate keeps sleeping.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SLEEP_MS, MIN_LEARN_FLOPS, SLEEP_FRACTION, WaitPacer } from '../src/backends/webgpu/wait-pacer.js';

const FLOPS = 1e9; // one step's known flops, well above MIN_LEARN_FLOPS

/** Submits `flops` at `at`, waits without sleeping, and the device answers `ms` later. */
function plainWait(pacer: WaitPacer, at: number, ms: number, cold = false): void {
  pacer.submitted(FLOPS, cold, at);
  const { flops, cold: c, sleepMs } = pacer.begin(at);
  expect(sleepMs).toBe(0);
  pacer.finished({ flops, cold: c, slept: 0, woke: at, done: at + ms });
}

describe('WaitPacer', () => {
  it('learns nothing from work that compiled pipelines, so the next wait does not sleep', () => {
    const pacer = new WaitPacer();
    plainWait(pacer, 0, 1000, true); // first step: compiles everything, 10× slower than the device
    expect(pacer.flopsPerMs).toBe(0);
    pacer.submitted(FLOPS, false, 2000);
    expect(pacer.begin(2000).sleepMs).toBe(0);
  });

  it('learns from warm work and sleeps the stated fraction of the prediction', () => {
    const pacer = new WaitPacer();
    expect(FLOPS).toBeGreaterThan(MIN_LEARN_FLOPS);
    plainWait(pacer, 0, 100); // 1e7 flops per ms
    expect(pacer.flopsPerMs).toBeCloseTo(1e7, 0);
    pacer.submitted(FLOPS, false, 500);
    // 100 ms predicted, 10 already passed since the submission
    expect(pacer.begin(510).sleepMs).toBeCloseTo(90 * SLEEP_FRACTION, 6);
  });

  it('caps one sleep, however slow the learned speed makes the prediction', () => {
    const pacer = new WaitPacer();
    plainWait(pacer, 0, 1000); // 1e6 flops per ms, learned from a slow wait
    pacer.submitted(1e12, false, 2000); // predicted 1e6 ms: a quarter of an hour asleep
    expect(pacer.begin(2000).sleepMs).toBe(MAX_SLEEP_MS);
  });

  it('corrects an estimate that overshot within one wait, not one step at a time', () => {
    const pacer = new WaitPacer();
    plainWait(pacer, 0, 200); // learned 5e6 flops per ms: 10× too slow for what follows
    pacer.submitted(FLOPS, false, 2000);
    const first = pacer.begin(2000);
    expect(first.sleepMs).toBeCloseTo(170, 6);
    // the work really takes 20 ms: we wake at 170 ms and the device answers at once
    pacer.finished({ ...first, slept: 170, woke: 2170, done: 2170.1 });
    expect(pacer.oversleeps).toBe(1);
    expect(pacer.flopsPerMs).toBe(0);
    // so the next wait measures without sleeping, and the one after sleeps about right
    plainWait(pacer, 3000, 100);
    pacer.submitted(FLOPS, false, 4000);
    expect(pacer.begin(4000).sleepMs).toBeCloseTo(100 * SLEEP_FRACTION, 6);
  });

  it('keeps an accurate estimate: waking before the device finished is not an overshoot', () => {
    const pacer = new WaitPacer();
    plainWait(pacer, 0, 100);
    pacer.submitted(FLOPS, false, 1000);
    const wait = pacer.begin(1000);
    pacer.finished({ ...wait, slept: 85, woke: 1085, done: 1102 });
    expect(pacer.oversleeps).toBe(0);
    // slower by 2%: the estimate moves halfway, it is not forgotten
    expect(pacer.flopsPerMs).toBeGreaterThan(0.97e7);
    expect(pacer.flopsPerMs).toBeLessThan(1e7);
  });

  it('forgets that work was cold once it has been waited for', () => {
    const pacer = new WaitPacer();
    plainWait(pacer, 0, 1000, true);
    plainWait(pacer, 2000, 100); // warm: learned
    expect(pacer.flopsPerMs).toBeCloseTo(1e7, 0);
  });

  it('learns nothing from waits on little known work (a prediction there would be noise)', () => {
    const pacer = new WaitPacer();
    pacer.submitted(MIN_LEARN_FLOPS / 2, false, 0);
    const wait = pacer.begin(0);
    pacer.finished({ ...wait, slept: 0, woke: 0, done: 50 });
    expect(pacer.flopsPerMs).toBe(0);
  });
});
