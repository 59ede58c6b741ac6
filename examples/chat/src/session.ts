// One conversation with a model: the messages so far, and the next answer streamed token by
// token as the model generates it.
import type { ChatMessage, Tokenizer } from '@kiln/tokenizer';
import { type CausalLM, type GenerateOptions, type GPT, generate } from '@kiln/transformer';
import { type Layout, promptIds, stopTokens } from './template.js';
import { withVocabulary } from './vocabulary.js';

/** Sampling options of every answer (the stop tokens come from the layout). */
export type AnswerOptions = Omit<GenerateOptions, 'stopTokens' | 'seed'>;

/** What {@link ChatSession.reply} returns. */
export interface Answer {
  /** The answer's text (without the end-of-turn token). */
  text: string;
  /** Its token ids. */
  ids: number[];
  /** Tokens of the conversation the model was given, and whether its window had to cut the start off. */
  promptTokens: number;
  truncated: boolean;
  /** True when the answer ended at a stop token, false when maxTokens or an interrupt ended it. */
  finished: boolean;
}

/** A conversation: an optional system prompt, then alternating user and assistant messages. */
export class ChatSession {
  readonly messages: ChatMessage[] = [];
  readonly #stops: number[];
  /** The model, sampling among the tokenizer's ids only. */
  readonly #lm: CausalLM;

  constructor(
    readonly model: GPT,
    readonly tokenizer: Tokenizer,
    readonly layout: Layout,
    readonly options: AnswerOptions,
    readonly system?: string,
  ) {
    this.#stops = stopTokens(layout, tokenizer);
    this.#lm = withVocabulary(model, tokenizer.vocabSize);
    this.reset();
  }

  /** Forgets the conversation (the system prompt stays). */
  reset(): void {
    this.messages.length = 0;
    if (this.system !== undefined) this.messages.push({ role: 'system', content: this.system });
  }

  /**
   * Adds the user's message, generates the answer, calling `write` with each piece of text as
   * soon as it is complete (a character split over tokens waits for its last byte), and adds
   * the answer to the conversation. `stop()` returning true ends the answer early (Ctrl-C).
   */
  async reply(
    text: string,
    write: (piece: string) => void,
    stop: () => boolean = () => false,
  ): Promise<Answer> {
    this.messages.push({ role: 'user', content: text });
    const prompt = promptIds(this.layout, this.tokenizer, this.messages);
    const decoder = this.tokenizer.createStreamDecoder();
    const ids: number[] = [];
    let answer = '';
    let stopped = false;
    const tokens = generate(this.#lm, prompt, { ...this.options, stopTokens: this.#stops });
    for await (const id of tokens) {
      ids.push(id);
      const piece = decoder.push(id);
      answer += piece;
      if (piece) write(piece);
      if (stop()) {
        stopped = true;
        break;
      }
    }
    const rest = decoder.flush();
    answer += rest;
    if (rest) write(rest);
    this.messages.push({ role: 'assistant', content: answer });
    return {
      text: answer,
      ids,
      promptTokens: prompt.length,
      truncated: prompt.length > this.model.config.contextLength,
      finished: !stopped && ids.length < (this.options.maxTokens ?? 128),
    };
  }
}
