/**
 * How long to sleep before asking the device whether submitted work is done.
 *
 * Why sleep at all: while a device promise (`onSubmittedWorkDone`, a buffer map) is pending,
 * Dawn's Node binding keeps the main thread busy processing events. On a software adapter
 * (lavapipe) that thread competes with the threads running the kernels: measured on 2 cores, a
 * 16-matmul chain spent ~300 ms of main-thread CPU in a 1.5 s wait. So when the submitted work
 * is predictably long (its known flops over the speed learned from earlier waits) the executor
 * first sleeps most of it with a timer, which costs nothing, and only then creates the promise.
 * Work without known flops only makes the prediction short, never long.
 *
 * Two rules keep a bad estimate from lasting. Before them, a run's first step (which compiles
 * every pipeline: seconds on a software adapter) taught a very slow speed, and each later step
 * could only correct it by 1/0.85, so the first ~20 steps of every run were up to 5× slow:
 * - waits on work that compiled a pipeline (`cold`) are not learned from;
 * - a sleep that overshot (the device was done when we woke) says only that the device is at
 *   least this fast, so the speed is forgotten and the next wait measures it afresh, without
 *   sleeping.
 *
 * Pure bookkeeping over times the caller passes in (milliseconds from `performance.now()`), so
 * its rules are tested without a device.
 */

/** Don't sleep for predicted waits shorter than this (timer granularity, wake-up cost). */
export const MIN_SLEEP_MS = 4;
/**
 * Never sleep longer than this at once. A speed learned from a wait that also ran much unknown-flop
 * work (sorting, sampling, a stall of the machine) is far too slow, and a large matmul after it
 * was predicted to take minutes: runs sat idle that long (seen in GRPO and MoE runs under load).
 * Past the cap the executor awaits the device, so a wrong estimate costs at most this once (the
 * overshoot then resets the speed).
 */
export const MAX_SLEEP_MS = 250;
/** Sleep this fraction of the predicted time, then wait for the device: waking early is cheap. */
export const SLEEP_FRACTION = 0.85;
/** Learn the device's speed only from waits on at least this much work. */
export const MIN_LEARN_FLOPS = 2e7;
/**
 * A sleep overshot when the device was done within this fraction of the sleep after waking. An
 * accurate prediction leaves about (1 − SLEEP_FRACTION) / SLEEP_FRACTION ≈ 18% of the sleep.
 */
export const OVERSLEPT_FRACTION = 0.05;

/** What one wait looked like, for {@link WaitPacer.finished}. */
export interface WaitRecord {
  /** The outstanding flops when the wait began (from {@link WaitPacer.begin}). */
  flops: number;
  /** Whether that work compiled a pipeline. */
  cold: boolean;
  /** Milliseconds actually slept (0 when the wait did not sleep). */
  slept: number;
  /** When the sleep ended and the device was asked. */
  woke: number;
  /** When the device answered. */
  done: number;
}

/** Learns the device's speed on known-flop work and plans sleeps from it. */
export class WaitPacer {
  /** Known flops submitted and not yet waited for, and when the first of them was submitted. */
  #outstandingFlops = 0;
  #outstandingSince = 0;
  /** Whether any outstanding work compiled a pipeline. */
  #outstandingCold = false;
  /** Learned speed (flops per ms); 0 when unknown. */
  #flopsPerMs = 0;
  /** Sleeps that overshot and made the pacer forget its speed (diagnostics). */
  oversleeps = 0;

  /** The learned speed in flops per millisecond; 0 while unknown. */
  get flopsPerMs(): number {
    return this.#flopsPerMs;
  }

  /** Records a submission of `flops` known flops at `now`; `cold` when encoding it compiled a pipeline. */
  submitted(flops: number, cold: boolean, now: number): void {
    if (flops > 0) {
      if (this.#outstandingFlops === 0) this.#outstandingSince = now;
      this.#outstandingFlops += flops;
    }
    this.#outstandingCold ||= cold;
  }

  /** Starts a wait at `now`: what is outstanding, and how long to sleep first (0: don't). */
  begin(now: number): { flops: number; cold: boolean; sleepMs: number } {
    const flops = this.#outstandingFlops;
    const cold = this.#outstandingCold;
    let sleepMs = 0;
    if (flops > 0 && this.#flopsPerMs > 0) {
      const remaining = flops / this.#flopsPerMs - (now - this.#outstandingSince);
      if (remaining >= MIN_SLEEP_MS) sleepMs = Math.min(MAX_SLEEP_MS, remaining * SLEEP_FRACTION);
    }
    return { flops, cold, sleepMs };
  }

  /** Ends a wait: everything outstanding at its start has run; learns from it when it can. */
  finished(wait: WaitRecord): void {
    if (wait.slept > 0 && wait.done - wait.woke < wait.slept * OVERSLEPT_FRACTION) {
      this.#flopsPerMs = 0;
      this.oversleeps++;
    } else if (wait.flops >= MIN_LEARN_FLOPS && !wait.cold) {
      const rate = wait.flops / Math.max(1e-3, wait.done - this.#outstandingSince);
      // trust faster measurements at once (sleeping too little is cheap), slower ones halfway
      this.#flopsPerMs = rate > this.#flopsPerMs ? rate : (this.#flopsPerMs + rate) / 2;
    }
    // work submitted during the wait starts afresh; its coldness is kept only while some is left
    this.#outstandingFlops -= wait.flops;
    this.#outstandingSince = wait.done;
    if (this.#outstandingFlops === 0) this.#outstandingCold = false;
  }
}
