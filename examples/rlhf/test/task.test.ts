// The example's feedback: the programmatic reward checks exact answers after normalisation;
// the judge ranks a right answer above any wrong one and a wrong answer of the right form above
// one of the wrong form; prompts that leave no room for an answer are left out, counted.
import { describe, expect, it } from 'vitest';
import { correctness, fitting, judgeScore, taskOf } from '../src/task.js';

describe('feedback', () => {
  const count = { task: 'count' as const, answer: '3' };
  const letter = { task: 'final' as const, answer: 'y' };
  it('the reward is 1 for the exact (normalised) answer only', async () => {
    expect(await correctness.fn('Count words: a b c', ' 3.', count)).toBe(1);
    expect(await correctness.fn('Count words: a b c', '4', count)).toBe(0);
  });
  it('the judge orders right > right form > wrong form', () => {
    expect(judgeScore('3', count)).toBe(1);
    expect(judgeScore('4', count)).toBeGreaterThan(judgeScore('9', count));
    expect(judgeScore('9', count)).toBeGreaterThan(judgeScore('whale', count));
    expect(judgeScore('x', letter)).toBeGreaterThan(judgeScore('xyz', letter));
    expect(judgeScore('y', letter)).toBeGreaterThan(judgeScore('x', letter));
  });
  it('tasks are read from the prompt; long prompts are left out', () => {
    expect(taskOf('Last letter: do glory')).toBe('final');
    expect(taskOf('Count words: a')).toBe('count');
    const lines: string[] = [];
    const kept = fitting(
      [
        { ids: [1, 2], text: 'a', example: null },
        { ids: [1, 2, 3, 4], text: 'b', example: null },
      ],
      6,
      3,
      (l) => lines.push(l),
    );
    expect(kept.map((p) => p.text)).toEqual(['a']);
    expect(lines[0]).toMatch(/1 of 2 training prompts leave no room for 3 answer tokens/);
  });
});
