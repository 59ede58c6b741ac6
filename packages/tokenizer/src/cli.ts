// The `kiln-tokenizer` command line (Node only). `runCli` takes the arguments and the output
// streams as parameters so that tests can run it in-process; bin.ts wires it to the process.
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { TokenizerError } from './errors.js';
import { Tokenizer } from './tokenizer.js';
import type { ChunkStream } from './train.js';

const USAGE = `Usage:
  kiln-tokenizer train <text files...> --vocab-size <n> --out <tokenizer.json>
        [--pattern cl100k|o200k|gpt2|<regex>] [--special <token>]... [--min-frequency <n>]
  kiln-tokenizer encode --tokenizer <file> [--allow-special] [--json] [<text file> | -]
  kiln-tokenizer decode --tokenizer <file> [<ids file> | -]
  kiln-tokenizer count  --tokenizer <file> [--allow-special] [<text files...> | -]

--tokenizer takes a tokenizer.json, or a .tiktoken rank file together with --pattern.
Text is read as UTF-8; "-" or no file reads standard input. encode prints ids separated by
spaces (--json: a JSON array); decode reads ids separated by spaces, commas or newlines (a JSON
array works too). Without --allow-special, special-token text in files is encoded as plain text.`;

/** Where the CLI reads and writes. */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Standard input as a stream of chunks. */
  stdin(): ChunkStream;
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: () => process.stdin,
};

function openInput(path: string | undefined, io: CliIo): ChunkStream {
  return path === undefined || path === '-' ? io.stdin() : createReadStream(path);
}

async function readAllText(input: ChunkStream): Promise<string> {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let text = '';
  for await (const chunk of input)
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

async function loadTokenizer(path: string | undefined, pattern: string | undefined): Promise<Tokenizer> {
  if (path === undefined) throw new TokenizerError('--tokenizer <file> is required.');
  return Tokenizer.load(path, pattern === undefined ? undefined : { pattern });
}

/** Token ids of one input: streamed in bounded memory unless special tokens are allowed. */
async function* encodeInput(
  tokenizer: Tokenizer,
  input: ChunkStream,
  allowSpecial: boolean,
): AsyncGenerator<number[]> {
  if (allowSpecial) yield tokenizer.encode(await readAllText(input), { allowedSpecial: 'all' });
  else yield* tokenizer.encodeStream(input);
}

/** Runs the CLI with `args` (without `node` and the script); resolves to the exit code. */
export async function runCli(args: readonly string[], io: CliIo = processIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...files] = positionals;
  if (values.help || command === undefined) {
    (values.help ? io.stdout : io.stderr)(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'train': {
        if (files.length === 0) throw new TokenizerError('train needs at least one text file.');
        if (values.out === undefined) throw new TokenizerError('train needs --out <tokenizer.json>.');
        const vocabSize = Number(values['vocab-size']);
        const tokenizer = await Tokenizer.train(
          files.map((file) => openInput(file, io)),
          {
            vocabSize,
            pattern: values.pattern,
            specialTokens: values.special,
            minFrequency: values['min-frequency'] === undefined ? undefined : Number(values['min-frequency']),
            onProgress: (p) => {
              if (p.phase === 'done')
                io.stderr(`learned ${p.merges} merges from ${p.distinctWords} distinct words\n`);
            },
          },
        );
        await tokenizer.save(values.out);
        io.stderr(`wrote ${values.out} (vocabulary size ${tokenizer.vocabSize})\n`);
        return 0;
      }
      case 'encode': {
        const tokenizer = await loadTokenizer(values.tokenizer, values.pattern);
        const all: number[] = [];
        let first = true;
        for await (const ids of encodeInput(
          tokenizer,
          openInput(files[0], io),
          values['allow-special'] === true,
        )) {
          if (values.json) {
            for (const id of ids) all.push(id);
          } else if (ids.length > 0) {
            io.stdout(`${first ? '' : ' '}${ids.join(' ')}`);
            first = false;
          }
        }
        io.stdout(values.json ? `${JSON.stringify(all)}\n` : '\n');
        return 0;
      }
      case 'decode': {
        const tokenizer = await loadTokenizer(values.tokenizer, values.pattern);
        const text = await readAllText(openInput(files[0], io));
        const ids = (text.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
        io.stdout(tokenizer.decode(ids));
        return 0;
      }
      case 'count': {
        const tokenizer = await loadTokenizer(values.tokenizer, values.pattern);
        const inputs = files.length === 0 ? ['-'] : files;
        let total = 0;
        for (const file of inputs) {
          let count = 0;
          for await (const ids of encodeInput(
            tokenizer,
            openInput(file, io),
            values['allow-special'] === true,
          )) {
            count += ids.length;
          }
          total += count;
          io.stdout(inputs.length > 1 ? `${count}\t${file}\n` : `${count}\n`);
        }
        if (inputs.length > 1) io.stdout(`${total}\ttotal\n`);
        return 0;
      }
      default:
        io.stderr(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    io.stderr(`kiln-tokenizer ${command}: ${(error as Error).message}\n`);
    return 1;
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      tokenizer: { type: 'string' },
      pattern: { type: 'string' },
      out: { type: 'string' },
      'vocab-size': { type: 'string' },
      'min-frequency': { type: 'string' },
      special: { type: 'string', multiple: true },
      'allow-special': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
