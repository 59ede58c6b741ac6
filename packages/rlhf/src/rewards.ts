// Machine feedback: reward functions are plain TypeScript functions of the prompt, the
// completion and the prompt's example record (which may carry the reference answer). They may
// be async (a function can ask another model), and any number of them are combined by weight.

/** One reward function: `(prompt, completion, example) → number`, or a promise of one. */
export type RewardFn<E = unknown> = (
  prompt: string,
  completion: string,
  example: E,
) => number | Promise<number>;

/** A named, weighted reward function (its name is the metric it is logged under). */
export interface RewardFunction<E = unknown> {
  /** Logged as `reward/<name>`. */
  name: string;
  fn: RewardFn<E>;
  /** Weight in the total reward (default 1). */
  weight?: number;
}

/** A prompt to roll out: its token ids, its text (what reward functions see) and its example record. */
export interface RLPrompt<E = unknown> {
  /** The prompt's token ids, as the policy sees them (the chat template applied, ending where the answer starts). */
  ids: readonly number[];
  /** The user's prompt as text, passed to the reward functions. */
  text: string;
  /** Anything the reward functions need (e.g. the reference answer); passed through. */
  example: E;
}

/** The rewards of a batch: the weighted total per completion and each function's own values. */
export interface ScoredRewards {
  /** `Σ_f w_f r_f` per completion. */
  total: number[];
  /** Each function's unweighted values, by name. */
  byFunction: Record<string, number[]>;
}

/** Thrown when a reward function throws or returns something that is not a finite number. */
export class RewardError extends Error {
  override name = 'RewardError';
}

/** Checks a list of reward functions (names unique, weights finite) and returns it. */
export function checkRewardFunctions<E>(
  rewards: readonly RewardFunction<E>[],
  who: string,
): RewardFunction<E>[] {
  if (!Array.isArray(rewards) || rewards.length === 0) {
    throw new TypeError(`${who}: give at least one reward function { name, fn, weight? }`);
  }
  const names = new Set<string>();
  for (const [i, r] of rewards.entries()) {
    if (typeof r?.fn !== 'function' || typeof r.name !== 'string' || r.name === '') {
      throw new TypeError(
        `${who}: rewards[${i}] must be { name: string, fn: (prompt, completion, example) => number }`,
      );
    }
    if (names.has(r.name)) throw new TypeError(`${who}: two reward functions are named '${r.name}'`);
    names.add(r.name);
    if (r.weight !== undefined && !Number.isFinite(r.weight)) {
      throw new RangeError(
        `${who}: the weight of reward '${r.name}' must be a finite number, got ${r.weight}`,
      );
    }
  }
  return [...rewards];
}

/**
 * Scores every completion with every function (the functions of one completion run
 * concurrently, so async judges overlap). A function that throws, or returns NaN, ±∞ or a
 * non-number, is an error naming the function, the completion's index, its prompt and its
 * text: a silent zero would train on a broken judge.
 */
export async function scoreCompletions<E>(
  rewards: readonly RewardFunction<E>[],
  items: readonly { prompt: RLPrompt<E>; completion: string }[],
): Promise<ScoredRewards> {
  const byFunction: Record<string, number[]> = {};
  for (const r of rewards) byFunction[r.name] = new Array(items.length);
  const total = new Array<number>(items.length).fill(0);
  await Promise.all(
    items.map(async ({ prompt, completion }, i) => {
      const where = () =>
        `completion ${i} of prompt ${JSON.stringify(prompt.text)}: ${JSON.stringify(completion)}`;
      for (const r of rewards) {
        let value: unknown;
        try {
          value = await r.fn(prompt.text, completion, prompt.example);
        } catch (error) {
          throw new RewardError(
            `reward '${r.name}' threw on ${where()}: ${(error as Error)?.message ?? String(error)}`,
          );
        }
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          throw new RewardError(
            `reward '${r.name}' returned ${typeof value === 'number' ? String(value) : typeof value} on ${where()}; a reward must be a finite number`,
          );
        }
        byFunction[r.name][i] = value;
        total[i] += (r.weight ?? 1) * value;
      }
    }),
  );
  return { total, byFunction };
}
