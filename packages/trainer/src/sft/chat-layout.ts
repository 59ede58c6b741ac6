/**
 * How an example becomes tokens with a mask of the tokens to train on, and how its prompt is
 * laid out for generation. Both go through the same rules, so what a model is asked at
 * evaluation is exactly what it saw before each answer in training.
 *
 * - A conversation is rendered by the tokenizer's chat template (`renderChat`): the assistant's
 *   content and end-of-turn marker are trained, everything else (system, user, the scaffolding
 *   around turns) is not.
 * - A prompt–completion pair is, by default (`promptCompletion: 'chat'`), the conversation
 *   `[user: prompt, assistant: completion]` through the same template, so a fine-tuned model
 *   answers prompts with the chat template it will be used with. With `'raw'` it is the plain
 *   text `prompt` followed by `completion` and an end-of-sequence token, the completion and the
 *   EOS trained (TRL's layout for non-conversational data); prompt and completion are encoded
 *   separately, so no token straddles them and the generation prompt is `encode(prompt)`.
 */
import type { ChatMessage, ChatOptions, RenderedChat } from '@kiln/tokenizer';
import { type ChatExample, isPromptCompletion } from './chat-example.js';

/** What tokenizing chats needs from a tokenizer; `@kiln/tokenizer`'s `Tokenizer` has it. */
export interface ChatTokenizer {
  /** Renders and encodes a conversation with a mask of the trained tokens. */
  renderChat(messages: readonly ChatMessage[], options?: ChatOptions): RenderedChat;
  /** Encodes text with special-token text as ordinary text. */
  encodeOrdinary(text: string): number[];
  /** Special token text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
}

/** How examples are laid out as tokens (see the file comment). */
export interface ChatLayoutOptions {
  /** The chat template: `'chatml'` (default), `'llama3'` or a custom `ChatTemplate`. */
  template?: ChatOptions['template'];
  /** Prompt–completion pairs as a user/assistant exchange through the template (`'chat'`, default) or as raw text + EOS (`'raw'`). */
  promptCompletion?: 'chat' | 'raw';
  /** The end-of-sequence token (its text or id) ending a raw completion (default `<|endoftext|>` when the tokenizer has it). */
  eosToken?: string | number;
}

/** Tokens of one example and, per token, 1 when the model is trained to produce it. */
export interface LaidOutExample {
  ids: number[];
  mask: Uint8Array;
}

/** The EOS id of a raw layout, with an error saying how to choose one when there is none. */
export function eosId(tokenizer: ChatTokenizer, eosToken: string | number | undefined, who: string): number {
  if (typeof eosToken === 'number') {
    if (!Number.isInteger(eosToken) || eosToken < 0) {
      throw new RangeError(
        `${who}: eosToken must be a token id ≥ 0 or a special token's text, got ${eosToken}`,
      );
    }
    return eosToken;
  }
  const text = eosToken ?? '<|endoftext|>';
  const id = tokenizer.specialTokens.get(text);
  if (id === undefined) {
    const known = [...tokenizer.specialTokens.keys()];
    throw new RangeError(
      `${who}: promptCompletion 'raw' ends each completion with an EOS token, and the tokenizer has no special token ${JSON.stringify(text)}; ` +
        `pass eosToken (one of ${known.length ? known.map((t) => JSON.stringify(t)).join(', ') : 'none: add one when training the tokenizer'}) or use promptCompletion: 'chat'`,
    );
  }
  return id;
}

/** The messages a prompt–completion pair stands for in the chat layout. */
export function promptCompletionMessages(prompt: string, completion?: string): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'user', content: prompt }];
  if (completion !== undefined) messages.push({ role: 'assistant', content: completion });
  return messages;
}

/** Lays out one (already checked) example as ids and a trained-token mask. */
export function layOutExample(
  example: ChatExample,
  tokenizer: ChatTokenizer,
  options: ChatLayoutOptions,
  who: string,
): LaidOutExample {
  const { template, promptCompletion = 'chat', eosToken } = options;
  if (!isPromptCompletion(example)) {
    const { ids, assistantMask } = tokenizer.renderChat(example.messages, { template });
    return { ids, mask: assistantMask };
  }
  if (promptCompletion === 'chat') {
    const { ids, assistantMask } = tokenizer.renderChat(
      promptCompletionMessages(example.prompt, example.completion),
      { template },
    );
    return { ids, mask: assistantMask };
  }
  const prompt = tokenizer.encodeOrdinary(example.prompt);
  const completion = tokenizer.encodeOrdinary(example.completion);
  const ids = [...prompt, ...completion, eosId(tokenizer, eosToken, who)];
  const mask = new Uint8Array(ids.length).fill(1, prompt.length);
  return { ids, mask };
}

/** Checks the layout options once, with errors naming `who`. */
export function checkLayoutOptions(options: ChatLayoutOptions, who: string): void {
  const { promptCompletion = 'chat' } = options;
  if (promptCompletion !== 'chat' && promptCompletion !== 'raw') {
    throw new RangeError(
      `${who}: promptCompletion must be 'chat' or 'raw', got ${JSON.stringify(promptCompletion)}`,
    );
  }
}
