import { describe, expect, it } from 'vitest';
import { convertPatternToJs, PATTERN_SOURCES, resolvePattern, TokenizerFormatError } from '../src/index.js';
import { loadOracle, loadOurs } from './helpers/openai.js';

describe('pattern conversion', () => {
  it('gives \\s its Unicode meaning (U+0085 in, U+FEFF out)', () => {
    const js = new RegExp(convertPatternToJs('\\s+'), 'u');
    expect(js.test('\u0085')).toBe(true);
    expect(js.test('\ufeff')).toBe(false);
    expect(new RegExp(convertPatternToJs('[^\\s]'), 'u').test('\ufeff')).toBe(true);
  });

  it('spells out case-insensitive groups, including the letters that fold into s and k', () => {
    const js = new RegExp(`^(?:${convertPatternToJs("(?i:'s|'k)x")})$`, 'u');
    for (const ok of ["'sx", "'Sx", "'ſx", "'kx", "'Kx", "'\u212ax"]) expect(js.test(ok), ok).toBe(true);
    expect(js.test("'sX")).toBe(false);
  });

  it('turns possessive quantifiers into greedy ones', () => {
    expect(convertPatternToJs('\\p{L}++|\\p{N}{1,3}+|a?+b*+')).toBe('\\p{L}+|\\p{N}{1,3}|a?b*');
  });

  it('keeps lazy quantifiers and drops needless escapes', () => {
    expect(convertPatternToJs("a+?\\'\\-")).toBe("a+?'-");
    expect(convertPatternToJs('[\\-a]')).toBe('[\\-a]');
  });

  it('rejects syntax it cannot translate faithfully', () => {
    expect(() => convertPatternToJs('\\bword')).toThrow(TokenizerFormatError);
    expect(() => convertPatternToJs('[a[b]]')).toThrow(/nested/);
    expect(() => convertPatternToJs('(?<name>x)')).toThrow(/inline flags or named groups/);
    expect(() => convertPatternToJs('(a')).toThrow(/unbalanced/);
  });

  it('resolves names, aliases and sources', () => {
    expect(resolvePattern('cl100k_base').name).toBe('cl100k');
    expect(resolvePattern('r50k_base').name).toBe('gpt2');
    expect(resolvePattern(PATTERN_SOURCES.o200k).name).toBe('o200k');
    expect(resolvePattern('\\w+').name).toBeUndefined();
    expect(() => resolvePattern('gpt5')).toThrow(/Unknown split pattern name "gpt5"/);
    expect(() => resolvePattern('(')).toThrow(TokenizerFormatError);
  });

  it("accepts tiktoken's newer possessive spelling of cl100k with the same splits", () => {
    const possessive =
      "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";
    const a = resolvePattern(possessive).regex;
    const b = resolvePattern('cl100k').regex;
    const text = "It's  a\r\n\n  test   \n\tof 12345 ſ'S things!!\n\n  ";
    expect(text.match(a)).toEqual(text.match(b));
  });
});

describe('no catastrophic backtracking or quadratic merging', () => {
  // 1,000,000 repeated characters must encode well under a second. Measured as this process's
  // CPU time, best of two runs, so that other processes on a busy CI machine cannot make it flaky.
  const cases = [' ', 'a', '1', '!', '\n', '中', '😀', 'A\u0301'];
  const cpuMs = (fn: () => void) => {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  it.each(['cl100k_base', 'o200k_base'] as const)('%s', (name) => {
    const tokenizer = loadOurs(name);
    for (const unit of cases) {
      const text = unit.repeat(1_000_000 / unit.length);
      let best = Infinity;
      let ids: number[] = [];
      for (let run = 0; run < 2 && best > 300; run++) {
        best = Math.min(
          best,
          cpuMs(() => {
            ids = tokenizer.encode(text);
          }),
        );
      }
      expect(best, `${JSON.stringify(unit)} took ${best.toFixed(0)} ms`).toBeLessThan(1000);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('gives tiktoken’s ids on long runs', () => {
    const ours = loadOurs('cl100k_base');
    const oracle = loadOracle('cl100k_base');
    for (const text of [' '.repeat(5000), 'ab'.repeat(3000), '!?'.repeat(2000), `x${'\n'.repeat(3000)}y`]) {
      expect(ours.encode(text)).toEqual(Array.from(oracle.encode(text)));
    }
  });
});
