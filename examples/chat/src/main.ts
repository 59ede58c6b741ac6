// The chat app: load a model directory and its tokenizer, then answer one --prompt or chat
// interactively, streaming each answer as it is generated.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { init, manualSeed } from '@kiln/tensor';
import { Tokenizer } from '@kiln/tokenizer';
import type { GPT } from '@kiln/transformer';
import { loadModel } from '@kiln/transformer/node';
import { applyAdapter } from './adapter.js';
import { type ChatArgs, parseFlags, USAGE } from './args.js';
import { findCheckpoint } from './checkpoint.js';
import { ChatSession } from './session.js';
import { chooseLayout } from './template.js';

/** Where the app reads and writes, and where it resolves paths. */
export interface ChatIO {
  input: Readable;
  /** Answers (and, interactively, the prompts). */
  output: Writable;
  /** Status lines and errors; kept off `output` so that `--prompt` prints the answer alone. */
  errors: Writable;
  /** Paths on the command line are relative to this directory. */
  cwd: string;
  /** The repository root, where the default checkpoints are (runs/…). */
  root: string;
  /** Whether `input` is a terminal (line editing, Ctrl-C handling). */
  terminal?: boolean;
}

/** Runs the app with command-line `argv`; resolves to the exit code (errors are printed, not thrown). */
export async function main(argv: readonly string[], io: ChatIO): Promise<number> {
  const note = (line: string) => io.errors.write(`${line}\n`);
  let model: GPT | undefined;
  try {
    const args = parseFlags(argv);
    if (args === 'help') {
      io.output.write(`${USAGE}\n`);
      return 0;
    }
    const { modelDir, tokenizerPath } = await findCheckpoint({
      ...io,
      model: args.model,
      tokenizer: args.tokenizer,
    });
    const backend = await init({ backend: args.backend, quiet: true });
    // One seed for the whole session: a given --seed replays the same conversation.
    const seed = args.seed ?? Math.floor(Math.random() * 2 ** 31);
    manualSeed(seed);
    const tokenizer = await Tokenizer.load(tokenizerPath);
    model = await loadModel(modelDir);
    if (args.adapter !== undefined) await applyAdapter(model, args.adapter);
    const layout = chooseLayout(args.template, tokenizer);
    const c = model.config;
    note(
      `model ${modelDir}: ${c.family}, ${c.nLayers} layers, d ${c.dModel}, context ${c.contextLength}, ` +
        `${(model.numParameters() / 1e6).toFixed(2)}M parameters on ${backend.name}`,
    );
    note(
      `tokenizer ${tokenizerPath} (${tokenizer.vocabSize} tokens), template ${layout.name}` +
        (layout.name === 'none' ? ' (no chat tokens: the model continues your text)' : ''),
    );
    note(
      `sampling: ${args.temperature === 0 ? 'greedy' : `temperature ${args.temperature}, top-p ${args.topP}${args.topK ? `, top-k ${args.topK}` : ''}`}, ` +
        `up to ${args.maxTokens} tokens, seed ${seed}`,
    );
    const session = new ChatSession(model, tokenizer, layout, sampling(args), args.system);
    if (args.prompt !== undefined) {
      const answer = await session.reply(args.prompt, (piece) => io.output.write(piece));
      io.output.write('\n');
      if (answer.truncated)
        note(`(the prompt was ${answer.promptTokens} tokens: the model saw the last ${c.contextLength})`);
      return 0;
    }
    await interactive(session, io, note);
    return 0;
  } catch (error) {
    // Errors carry messages written for people; the stack only helps when debugging Kiln itself.
    note(process.env.KILN_DEBUG && error instanceof Error ? String(error.stack) : (error as Error).message);
    return 1;
  } finally {
    model?.dispose();
  }
}

function sampling(args: ChatArgs) {
  return { temperature: args.temperature, topK: args.topK, topP: args.topP, maxTokens: args.maxTokens };
}

/** The read–answer loop: /reset, /exit, Ctrl-D quits; Ctrl-C stops the answer being generated. */
async function interactive(session: ChatSession, io: ChatIO, note: (line: string) => void): Promise<void> {
  const rl = createInterface({ input: io.input, output: io.output, terminal: io.terminal ?? false });
  let generating = false;
  let interrupted = false;
  let closed = false;
  rl.on('close', () => {
    closed = true;
  });
  rl.on('SIGINT', () => {
    if (generating) interrupted = true;
    else rl.close();
  });
  note('type a message; /reset starts over, /exit quits, Ctrl-C stops an answer');
  const ask = () => {
    if (closed) return; // the input ended (Ctrl-D, or the end of piped input)
    rl.setPrompt('you> ');
    rl.prompt();
  };
  ask();
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '/exit' || line === '/quit') break;
    if (line === '/reset') {
      session.reset();
      note('(new conversation)');
    } else if (line.startsWith('/')) {
      note(`unknown command ${line}: /reset starts over, /exit quits`);
    } else if (line) {
      io.output.write('bot> ');
      generating = true;
      interrupted = false;
      try {
        const answer = await session.reply(
          line,
          (piece) => io.output.write(piece),
          () => interrupted,
        );
        io.output.write('\n');
        if (interrupted) note('(stopped)');
        else if (!answer.finished) note(`(cut off at ${answer.ids.length} tokens: --max-tokens)`);
        if (answer.truncated)
          note(
            `(the conversation is ${answer.promptTokens} tokens; the model sees the last ${session.model.config.contextLength}: /reset starts over)`,
          );
      } finally {
        generating = false;
      }
    }
    ask();
  }
  rl.close();
}
