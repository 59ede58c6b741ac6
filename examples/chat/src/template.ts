// How a conversation becomes the model's input: a chat template (ChatML or Llama 3, from
// @kiln/tokenizer) for assistants, or plain running text for a base model that only continues
// text. Also which tokens end an answer.
import {
  CHATML_TEMPLATE,
  type ChatMessage,
  type ChatTemplate,
  LLAMA3_TEMPLATE,
  type Tokenizer,
} from '@kiln/tokenizer';
import type { TemplateName } from './args.js';

/** A resolved layout: a chat template, or `none` for plain text continuation. */
export type Layout = { name: 'chatml' | 'llama3'; template: ChatTemplate } | { name: 'none' };

/** End-of-text tokens of common tokenizers: an answer also stops at these. */
const END_OF_TEXT = ['<|endoftext|>', '<|end_of_text|>'];

const has = (tokenizer: Tokenizer, template: ChatTemplate) =>
  template.specialTokens.every((t) => tokenizer.specialTokens.has(t));

/**
 * The layout for `name`: `auto` picks Llama 3 when the tokenizer has its special tokens, else
 * ChatML when it has those, else plain text (a base model, such as the one examples/pretrain
 * writes). A named template the tokenizer lacks the tokens of is an error naming them.
 */
export function chooseLayout(name: TemplateName, tokenizer: Tokenizer): Layout {
  if (name === 'auto') {
    if (has(tokenizer, LLAMA3_TEMPLATE)) return { name: 'llama3', template: LLAMA3_TEMPLATE };
    if (has(tokenizer, CHATML_TEMPLATE)) return { name: 'chatml', template: CHATML_TEMPLATE };
    return { name: 'none' };
  }
  if (name === 'none') return { name };
  const template = name === 'llama3' ? LLAMA3_TEMPLATE : CHATML_TEMPLATE;
  const missing = template.specialTokens.filter((t) => !tokenizer.specialTokens.has(t));
  if (missing.length > 0) {
    throw new Error(
      `--template ${name} needs the special tokens ${missing.join(' ')}, which this tokenizer lacks; ` +
        `use --template ${has(tokenizer, CHATML_TEMPLATE) ? 'chatml' : has(tokenizer, LLAMA3_TEMPLATE) ? 'llama3' : 'none'} (or auto)`,
    );
  }
  return { name, template };
}

/** Ids that end an answer: the template's end-of-turn token and any end-of-text token the tokenizer has. */
export function stopTokens(layout: Layout, tokenizer: Tokenizer): number[] {
  const names = [...END_OF_TEXT];
  if (layout.name !== 'none') names.push(layout.template.messageEnd({ role: 'assistant', content: '' }));
  return [...new Set(names.flatMap((n) => tokenizer.specialTokens.get(n) ?? []))];
}

/**
 * The ids that ask the model for the next assistant message after `messages`: the rendered
 * conversation plus the opening of an assistant turn. Without a template the conversation is
 * one running text (every message's content, in order), which the model continues; an empty
 * text starts from the end-of-text token, the usual document separator.
 */
export function promptIds(layout: Layout, tokenizer: Tokenizer, messages: readonly ChatMessage[]): number[] {
  if (layout.name !== 'none') {
    return tokenizer.renderChat(messages, { template: layout.template, addGenerationPrompt: true }).ids;
  }
  const ids = tokenizer.encodeOrdinary(messages.map((m) => m.content).join(''));
  if (ids.length > 0) return ids;
  const start = END_OF_TEXT.map((n) => tokenizer.specialTokens.get(n)).find((id) => id !== undefined);
  if (start === undefined)
    throw new Error('the prompt is empty and the tokenizer has no end-of-text token to start from');
  return [start];
}
