// Converts a split pattern written for tiktoken / Hugging Face (Rust `fancy-regex`, Oniguruma)
// into an equivalent JavaScript `u`-mode RegExp source. The differences that matter for the
// tokenizer patterns in the wild:
//   - `\s` is Unicode White_Space in Rust but JS adds U+FEFF and leaves out U+0085, so it becomes
//     `\p{White_Space}` (`\S` → `\P{White_Space}`; `\d`, `\w` get their Unicode meaning too);
//   - JS before ES2025 has no `(?i:...)` groups: the letters inside get spelled out (`[sSſ]`);
//   - JS has no possessive quantifiers (`++`, `*+`, `?+`, `{1,3}+`): they become greedy ones.
//     That keeps the matches of the tokenizer patterns identical because every possessive run is
//     followed by something its characters cannot start (a different class, or the end), so
//     backtracking into it can never make the rest match. The exactness tests check this
//     against tiktoken for the named patterns;
//   - `.` does not match `\n` only (JS also stops at `\r`, U+2028, U+2029), so it is spelled out;
//   - `u`-mode rejects needless escapes such as `\'`, so they are written as the plain character.
import { TokenizerFormatError } from './errors.js';

/** Characters that may be escaped in a JS `u`-mode pattern outside a character class. */
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/');

/** Simple case folding of ASCII letters, including the two non-ASCII characters that fold into them. */
function caseVariants(ch: string): string {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  if (lower === 's') return 'sSſ';
  if (lower === 'k') return 'kK\u212a';
  return lower === upper ? ch : lower + upper;
}

function isAsciiLetter(ch: string): boolean {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/**
 * Converts a tiktoken / tokenizer.json split pattern to a JavaScript RegExp source meant for the
 * `gu` flags. Throws a {@link TokenizerFormatError} on syntax this converter does not support
 * (nested classes, Unicode word boundaries, inline flags other than `i`).
 */
export function convertPatternToJs(source: string): string {
  let out = '';
  let i = 0;
  let inClass = false;
  // One entry per open group: whether case-insensitive matching is on inside it.
  const groups: boolean[] = [];
  let ignoreCase = false;

  const fail = (what: string): never => {
    throw new TokenizerFormatError(`Unsupported regex syntax in split pattern at offset ${i}: ${what}.`);
  };

  // Handles `\x` at source[i] (the backslash); returns the JS text.
  const translateEscape = (): string => {
    const c = source[i + 1];
    if (c === undefined) return fail('trailing backslash');
    i += 2;
    switch (c) {
      case 's':
        return '\\p{White_Space}';
      case 'S':
        return '\\P{White_Space}';
      case 'd':
        return '\\p{Nd}';
      case 'D':
        return '\\P{Nd}';
      case 'w':
        return inClass
          ? '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}'
          : '[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]';
      case 'W':
        return inClass
          ? fail('\\W inside a class')
          : '[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]';
      case 'A':
        return inClass ? fail('\\A inside a class') : '^';
      case 'z':
        return inClass ? fail('\\z inside a class') : '$';
      case 'b':
      case 'B':
        return fail(`\\${c} (word boundaries differ between regex engines)`);
      case 'p':
      case 'P': {
        if (source[i] === '{') {
          const close = source.indexOf('}', i);
          if (close < 0) return fail('unterminated \\p{');
          const body = source.slice(i, close + 1);
          i = close + 1;
          return `\\${c}${body}`;
        }
        // Rust's one-letter form `\pL`.
        const letter = source[i++];
        return `\\${c}{${letter}}`;
      }
      case 'x': {
        if (source[i] === '{') {
          const close = source.indexOf('}', i);
          const hex = source.slice(i + 1, close);
          i = close + 1;
          return `\\u{${hex}}`;
        }
        const hex = source.slice(i, i + 2);
        i += 2;
        return `\\x${hex}`;
      }
      case 'u': {
        const hex = source.slice(i, i + 4);
        i += 4;
        return `\\u${hex}`;
      }
      case 'n':
      case 'r':
      case 't':
      case 'f':
      case 'v':
      case '0':
        return `\\${c}`;
      default:
        if (JS_SYNTAX.has(c) || (inClass && c === '-')) return `\\${c}`;
        if (isAsciiLetter(c) || (c >= '0' && c <= '9')) return fail(`unknown escape \\${c}`);
        return c; // a needless escape such as \' or \#
    }
  };

  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      out += translateEscape();
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      else if (c === '[') fail('nested character class');
      else if (c === '&' && source[i + 1] === '&') fail('class intersection');
      out += ignoreCase && isAsciiLetter(c) ? caseVariants(c) : c;
      i++;
      continue;
    }
    switch (c) {
      case '[':
        inClass = true;
        out += c;
        i++;
        if (source[i] === '^') {
          out += '^';
          i++;
        }
        // A `]` right after `[` or `[^` is a literal in Rust/Oniguruma but ends the class in JS.
        if (source[i] === ']') {
          out += '\\]';
          i++;
        }
        break;
      case '(': {
        if (source.startsWith('(?i:', i)) {
          groups.push(ignoreCase);
          ignoreCase = true;
          out += '(?:';
          i += 4;
        } else if (source.startsWith('(?i)', i)) {
          ignoreCase = true;
          i += 4;
        } else if (source[i + 1] === '?' && !/^\(\?(?::|=|!|<=|<!)/.test(source.slice(i, i + 4))) {
          fail('inline flags or named groups');
        } else {
          groups.push(ignoreCase);
          out += c;
          i++;
        }
        break;
      }
      case ')':
        if (groups.length === 0) fail('unbalanced )');
        ignoreCase = groups.pop()!;
        out += c;
        i++;
        break;
      case '*':
      case '+':
      case '?':
        out += c;
        i++;
        if (source[i] === '+')
          i++; // possessive → greedy
        else if (source[i] === '?') out += source[i++]; // lazy
        break;
      case '{': {
        const close = source.indexOf('}', i);
        const body = close < 0 ? '' : source.slice(i + 1, close);
        if (/^\d+(,\d*)?$/.test(body)) {
          out += `{${body}}`;
          i = close + 1;
          if (source[i] === '+')
            i++; // possessive → greedy
          else if (source[i] === '?') out += source[i++];
        } else {
          out += '\\{';
          i++;
        }
        break;
      }
      case '}':
        out += '\\}';
        i++;
        break;
      case '.':
        out += '[^\\n]';
        i++;
        break;
      default:
        if (ignoreCase && isAsciiLetter(c)) out += `[${caseVariants(c)}]`;
        else out += c;
        i++;
    }
  }
  if (inClass) fail('unterminated character class');
  if (groups.length > 0) fail('unbalanced (');
  return out;
}
