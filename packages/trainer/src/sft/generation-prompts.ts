/**
 * Prompts and reference answers for evaluating an assistant by generation: each example is laid
 * out as in training (chat-layout.ts) up to its last assistant turn, followed by the opening of
 * an assistant turn, and the reference is what the assistant said there.
 */
import type { ChatMessage } from '@kiln/tokenizer';
import {
  type ChatExample,
  type CheckChatExampleOptions,
  checkChatExample,
  isPromptCompletion,
} from './chat-example.js';
import {
  type ChatLayoutOptions,
  type ChatTokenizer,
  checkLayoutOptions,
  promptCompletionMessages,
} from './chat-layout.js';

/** Options of {@link generationPrompts}. */
export type GenerationPromptsOptions = Omit<ChatLayoutOptions, 'eosToken'> & CheckChatExampleOptions;

/** What {@link generationPrompts} returns (parallel arrays). */
export interface GenerationPrompts {
  /** Token ids to generate from: the example up to its last assistant turn, plus the generation prompt. */
  prompts: number[][];
  /** The last assistant turn's content (or the completion): the answer to compare against. */
  references: string[];
}

/**
 * Generation prompts and references of `examples` (see the file comment): for a conversation,
 * the messages before its last assistant turn with the template's generation prompt; for a
 * prompt–completion pair, the user turn and the generation prompt (`'chat'`) or the prompt's
 * tokens (`'raw'`). Feed `prompts` to a batched greedy generator and `references` to
 * `exactMatchAccuracy`.
 */
export function generationPrompts(
  examples: readonly ChatExample[],
  tokenizer: ChatTokenizer,
  options: GenerationPromptsOptions = {},
): GenerationPrompts {
  const { template, promptCompletion = 'chat', assistantRole = 'assistant' } = options;
  checkLayoutOptions(options, 'generationPrompts');
  const prompts: number[][] = [];
  const references: string[] = [];
  const render = (messages: readonly ChatMessage[]) =>
    tokenizer.renderChat(messages, { template, addGenerationPrompt: true }).ids;
  for (const raw of examples) {
    const example = checkChatExample(raw, options);
    if (isPromptCompletion(example)) {
      prompts.push(
        promptCompletion === 'chat'
          ? render(promptCompletionMessages(example.prompt))
          : tokenizer.encodeOrdinary(example.prompt),
      );
      references.push(example.completion);
      continue;
    }
    const { messages } = example;
    let last = messages.length - 1;
    while (messages[last].role !== assistantRole) last--; // checkChatExample ensures there is one
    prompts.push(render(messages.slice(0, last)));
    references.push(messages[last].content);
  }
  return { prompts, references };
}
