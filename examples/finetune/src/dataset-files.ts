// The conversations on disk: JSONL in the `{"messages": [...]}` format of OpenAI fine-tuning
// files and Hugging Face chat datasets, written atomically and read back through
// @kiln/trainer's reader, so the example trains on exactly what a user's own file would give.
import { writeFileAtomic } from '@kiln/tensor/node';
import { type ChatExample, readChatJsonl } from '@kiln/trainer/node';
import type { TaskExample } from './tasks.js';

/** A generated task as a conversation: the user's prompt and the assistant's answer. */
export function toConversation(example: TaskExample): { messages: { role: string; content: string }[] } {
  return {
    messages: [
      { role: 'user', content: example.prompt },
      { role: 'assistant', content: example.answer },
    ],
  };
}

/** The JSONL text of `examples`, one conversation per line. */
export function conversationsJsonl(examples: readonly TaskExample[]): string {
  return examples.map((e) => `${JSON.stringify(toConversation(e))}\n`).join('');
}

/** Writes `examples` to `path` as JSONL (atomically). */
export async function writeConversations(path: string, examples: readonly TaskExample[]): Promise<void> {
  await writeFileAtomic(path, conversationsJsonl(examples));
}

/** Reads a conversation file; any bad line is an error naming the file and the line. */
export async function readConversations(path: string): Promise<ChatExample[]> {
  const { examples } = await readChatJsonl(path);
  return examples;
}
