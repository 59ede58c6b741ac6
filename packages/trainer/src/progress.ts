/**
 * Training progress for humans: a single redrawn bar in an interactive terminal, plain lines
 * every N steps in CI logs and pipes (where `\r` redraws turn into thousands of lines).
 *
 * No Node imports: the stream, clock and environment are injectable, and default to
 * `process.stderr`, `performance.now()` and `process.env` when they exist.
 */

/** Where progress is written: `process.stderr` or anything with a `write(text)` method. */
export interface ProgressStream {
  write(text: string): unknown;
  /** True for an interactive terminal (Node sets it on TTY streams). */
  isTTY?: boolean;
  /** Terminal width in characters, used to keep the bar on one line. */
  columns?: number;
}

/** Options for {@link ProgressReporter}. */
export interface ProgressOptions {
  /** Steps in the run (the bar's 100%). */
  totalSteps: number;
  /** Output stream (default `process.stderr`). */
  stream?: ProgressStream;
  /** Clock in milliseconds (default `performance.now`). */
  now?: () => number;
  /** Environment used to detect CI (default `process.env`). */
  env?: Record<string, string | undefined>;
  /**
   * `bar` redraws one line with `\r`; `lines` prints a line every `lineEvery` steps. `auto`
   * (default) uses the bar only when the stream is a TTY and `CI` is not set.
   */
  mode?: 'auto' | 'bar' | 'lines';
  /** In line mode, print every this many steps (default: about 20 lines per run, at least every step). */
  lineEvery?: number;
  /** In bar mode, redraw at most this often (default 100 ms); the last step is always drawn. */
  redrawIntervalMs?: number;
  /** Width of the bar in characters (default 24; narrowed to fit the terminal). */
  barWidth?: number;
}

/** One progress report, made after a step completes. */
export interface ProgressUpdate {
  /** Completed steps (1 after the first step; `totalSteps` at the end). */
  step: number;
  /** Training loss of the step. */
  loss?: number;
  /** Total tokens processed so far (used for tokens per second). */
  tokens?: number;
  /** Learning rate used by the step. */
  lr?: number;
  /** Extra named values to show, e.g. `{ 'val loss': 3.21 }`. */
  fields?: Record<string, number | string>;
}

/** True when the environment says we run in CI (`CI` set to anything but '', '0' or 'false'). */
export function isCI(env: Record<string, string | undefined>): boolean {
  const value = env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Formats a duration in milliseconds as `m:ss` or `h:mm:ss`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Formats a rate with a k/M/G suffix: 950, 12.3k, 4.56M. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, suffix] of units) {
    if (Math.abs(perSecond) >= scale) return `${(perSecond / scale).toPrecision(3)}${suffix}`;
  }
  return perSecond.toFixed(0);
}

/** Formats a shown value: strings as they are, integers exactly (unless `asFloat`), other numbers with 4 decimals or in exponent form. */
function formatValue(value: number | string, asFloat = false): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value) && !asFloat) return String(value);
  if (!Number.isFinite(value)) return String(value);
  const plain = value === 0 || (Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4);
  return plain ? value.toFixed(4) : value.toExponential(2);
}

interface ProcessLike {
  stderr?: ProgressStream;
  env?: Record<string, string | undefined>;
}

/** Reports training progress as a bar or as plain lines (see the file comment). */
export class ProgressReporter {
  /** The mode in use: a redrawn bar or plain lines. */
  readonly mode: 'bar' | 'lines';
  readonly #total: number;
  readonly #stream: ProgressStream;
  readonly #now: () => number;
  readonly #lineEvery: number;
  readonly #redrawMs: number;
  readonly #barWidth: number;
  readonly #startTime: number;
  #first: { step: number; time: number; tokens: number } | undefined;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastLine = '';
  #barVisible = false;

  /** Picks bar or line mode from the options, the stream and the environment (see {@link ProgressOptions.mode}). */
  constructor(options: ProgressOptions) {
    const { totalSteps } = options;
    if (!Number.isInteger(totalSteps) || totalSteps < 1) {
      throw new RangeError(`ProgressReporter: totalSteps must be a positive integer, got ${totalSteps}`);
    }
    const proc = (globalThis as { process?: ProcessLike }).process;
    const stream = options.stream ?? proc?.stderr;
    if (!stream)
      throw new TypeError(
        'ProgressReporter: no stream given and process.stderr is unavailable; pass options.stream',
      );
    const env = options.env ?? proc?.env ?? {};
    const mode = options.mode ?? 'auto';
    if (mode !== 'auto' && mode !== 'bar' && mode !== 'lines') {
      throw new TypeError(
        `ProgressReporter: mode must be 'auto', 'bar' or 'lines', got ${JSON.stringify(mode)}`,
      );
    }
    this.mode = mode === 'auto' ? (stream.isTTY && !isCI(env) ? 'bar' : 'lines') : mode;
    const lineEvery = options.lineEvery ?? Math.max(1, Math.round(totalSteps / 20));
    if (!Number.isInteger(lineEvery) || lineEvery < 1) {
      throw new RangeError(`ProgressReporter: lineEvery must be a positive integer, got ${lineEvery}`);
    }
    this.#total = totalSteps;
    this.#stream = stream;
    this.#now = options.now ?? (() => performance.now());
    this.#lineEvery = lineEvery;
    this.#redrawMs = options.redrawIntervalMs ?? 100;
    this.#barWidth = options.barWidth ?? 24;
    this.#startTime = this.#now();
  }

  /** Records a completed step and redraws the bar or prints a line when due. */
  update(update: ProgressUpdate): void {
    const time = this.#now();
    const tokens = update.tokens ?? 0;
    // Rates are measured from the first update on, so one-off start-up work (compilation,
    // allocation) in the first step does not distort tokens/s and the ETA.
    this.#first ??= { step: update.step, time, tokens };
    const done = update.step >= this.#total;
    if (this.mode === 'lines') {
      if (update.step === this.#first.step || update.step % this.#lineEvery === 0 || done) {
        this.#stream.write(`${this.#describe(update, time, false)}\n`);
      }
      return;
    }
    if (!done && time - this.#lastDraw < this.#redrawMs) return;
    this.#lastDraw = time;
    this.#lastLine = this.#describe(update, time, true);
    this.#stream.write(`\r${this.#lastLine}\x1b[K`);
    this.#barVisible = true;
  }

  /** Prints a message on its own line (e.g. a validation result) without corrupting the bar. */
  log(message: string): void {
    if (this.mode === 'bar' && this.#barVisible) {
      this.#stream.write(`\r\x1b[K${message}\n${this.#lastLine}`);
    } else {
      this.#stream.write(`${message}\n`);
    }
  }

  /** Ends the bar's line so later output starts on a fresh line. Call once after the last step. */
  finish(): void {
    if (this.mode === 'bar' && this.#barVisible) this.#stream.write('\n');
    this.#barVisible = false;
  }

  #describe(update: ProgressUpdate, time: number, withBar: boolean): string {
    const first = this.#first!;
    const parts: string[] = [];
    const stepsText = `step ${update.step}/${this.#total}`;
    if (update.loss !== undefined) parts.push(`loss ${formatValue(update.loss, true)}`);
    if (update.lr !== undefined) parts.push(`lr ${update.lr.toExponential(2)}`);
    for (const [name, value] of Object.entries(update.fields ?? {}))
      parts.push(`${name} ${formatValue(value)}`);
    const sinceFirst = time - first.time;
    const stepsSinceFirst = update.step - first.step;
    if (update.tokens !== undefined && sinceFirst > 0) {
      parts.push(`${formatRate(((update.tokens - first.tokens) / sinceFirst) * 1000)} tok/s`);
    }
    parts.push(`elapsed ${formatDuration(time - this.#startTime)}`);
    const remaining = Math.max(0, this.#total - update.step);
    const eta =
      remaining === 0 ? 0 : stepsSinceFirst > 0 ? (sinceFirst / stepsSinceFirst) * remaining : Number.NaN;
    parts.push(`eta ${formatDuration(eta)}`);
    if (!withBar) return [stepsText, ...parts].join(' | ');
    return this.#fitBar(update.step, stepsText, parts.join(' | '));
  }

  /** Lays out `[####----] 42% step 10/24 | …`, narrowing the bar and then truncating to fit the terminal. */
  #fitBar(step: number, stepsText: string, details: string): string {
    const fraction = Math.min(1, Math.max(0, step / this.#total));
    const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
    const columns = this.#stream.columns ?? 120;
    const fixed = `[] ${percent} ${stepsText} | ${details}`.length;
    const width = Math.max(0, Math.min(this.#barWidth, columns - 1 - fixed));
    const filled = Math.round(fraction * width);
    const bar = width > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
    const line = `${bar}${percent} ${stepsText} | ${details}`;
    return line.length >= columns ? line.slice(0, Math.max(0, columns - 1)) : line;
  }
}
