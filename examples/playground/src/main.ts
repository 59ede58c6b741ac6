// The playground page: wires the controls to a TrainingSession, trains step by step while
// yielding to the page, and redraws the loss curve, the stats, a sample every few seconds and
// the chosen head's attention pattern. Query parameters (for links and the browser test):
// `backend=webgpu|cpu|auto`, `preset=small` (a model that trains in seconds), `autostart=1`.
import { drawAttention, drawLossCurve } from './charts.js';
import {
  DEFAULT_OPTIONS,
  type SessionFiles,
  type SessionOptions,
  TrainingSession,
  yieldToPage,
} from './session.js';
import { filesFromBlobs, filesToBlobs, hasOpfs, loadFromOpfs, saveToOpfs } from './storage.js';
import { bundledTexts } from './texts.js';

const query = new URLSearchParams(location.search);
const backendChoice = (query.get('backend') ?? 'auto') as 'webgpu' | 'cpu' | 'auto';
const PRESETS: Record<string, Partial<SessionOptions>> = {
  small: { nLayers: 1, dModel: 48, nHeads: 4, contextLength: 32, batchSize: 8, lr: 1e-2 },
};
const options: SessionOptions = { ...DEFAULT_OPTIONS, ...PRESETS[query.get('preset') ?? ''] };
const SAMPLE_EVERY_MS = 3000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  text: $<HTMLSelectElement>('text'),
  textFile: $<HTMLInputElement>('textFile'),
  drop: $('drop'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  status: $('status'),
  backend: $('backend'),
  step: $('step'),
  loss: $('loss'),
  tps: $('tps'),
  prepare: $<HTMLButtonElement>('prepare'),
  downloads: $('downloads'),
  saveOpfs: $<HTMLButtonElement>('saveOpfs'),
  loadOpfs: $<HTMLButtonElement>('loadOpfs'),
  modelFiles: $<HTMLInputElement>('modelFiles'),
  lossCanvas: $<HTMLCanvasElement>('lossCanvas'),
  layer: $<HTMLSelectElement>('layer'),
  head: $<HTMLSelectElement>('head'),
  attnPrompt: $<HTMLInputElement>('attnPrompt'),
  attnCanvas: $<HTMLCanvasElement>('attnCanvas'),
  prompt: $<HTMLInputElement>('prompt'),
  sample: $('sample'),
  error: $('error'),
};

let session: TrainingSession | null = null;
let running = false;
let droppedText: string | null = null;
let lastSample = '';
/** Set once a loop is running: resolves when it stops (pause or error). */
let loopDone: Promise<void> = Promise.resolve();

const texts = bundledTexts();
for (const [i, t] of texts.entries()) ui.text.add(new Option(t.name, String(i)));

function chosenText(): string {
  return droppedText ?? texts[Number(ui.text.value)]?.text ?? '';
}

async function takeTextFile(file: File): Promise<void> {
  droppedText = await file.text();
  ui.text.add(new Option(`${file.name} (${(file.size / 1024).toFixed(0)} kB)`, 'dropped'), 0);
  ui.text.value = 'dropped';
}
ui.textFile.onchange = () => ui.textFile.files?.[0] && takeTextFile(ui.textFile.files[0]);
ui.text.onchange = () => {
  if (ui.text.value !== 'dropped') droppedText = null;
};
ui.drop.ondragover = (e) => {
  e.preventDefault();
  ui.drop.classList.add('over');
};
ui.drop.ondragleave = () => ui.drop.classList.remove('over');
ui.drop.ondrop = (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) takeTextFile(file);
};

function showError(error: unknown): void {
  ui.error.textContent = String((error as Error)?.stack ?? error);
  ui.status.textContent = 'error';
}

function fillHeadPickers(s: TrainingSession): void {
  ui.layer.replaceChildren(
    ...Array.from({ length: s.model.config.nLayers }, (_, i) => new Option(String(i), String(i))),
  );
  ui.head.replaceChildren(
    ...Array.from({ length: s.model.config.nHeads }, (_, i) => new Option(String(i), String(i))),
  );
}

function showStats(s: TrainingSession): void {
  ui.backend.textContent = `backend ${s.backend}`;
  ui.step.textContent = `step ${s.step}`;
  ui.loss.textContent = `loss ${s.losses.at(-1)?.loss.toFixed(3) ?? '–'}`;
  ui.tps.textContent = `${s.tokensPerSecond.toFixed(0)} tokens/s`;
  drawLossCurve(ui.lossCanvas, s.losses);
}

async function refreshViews(s: TrainingSession): Promise<void> {
  lastSample = await s.sample(ui.prompt.value, 40);
  ui.sample.textContent = ui.prompt.value + lastSample;
  const { tokens, weights } = await s.attention(
    ui.attnPrompt.value,
    Number(ui.layer.value),
    Number(ui.head.value),
  );
  drawAttention(ui.attnCanvas, tokens, weights);
}

async function trainLoop(s: TrainingSession): Promise<void> {
  let sampledAt = performance.now();
  while (running) {
    await s.trainStep();
    showStats(s);
    if (performance.now() - sampledAt > SAMPLE_EVERY_MS) {
      await refreshViews(s);
      sampledAt = performance.now();
    }
    await yieldToPage(); // paint, and handle Pause
  }
  await refreshViews(s);
}

function run(s: TrainingSession): void {
  running = true;
  ui.status.textContent = 'training';
  ui.pause.disabled = false;
  ui.pause.textContent = 'Pause';
  ui.prepare.disabled = false;
  ui.saveOpfs.disabled = !hasOpfs();
  loopDone = trainLoop(s).catch((error) => {
    running = false;
    showError(error);
  });
}

ui.start.onclick = async () => {
  try {
    running = false;
    await loopDone;
    session?.model.dispose();
    ui.status.textContent = 'training the tokenizer…';
    ui.start.disabled = true;
    await yieldToPage();
    session = await TrainingSession.create(chosenText(), options, backendChoice);
    fillHeadPickers(session);
    ui.start.disabled = false;
    ui.start.textContent = 'Restart';
    run(session);
  } catch (error) {
    ui.start.disabled = false;
    showError(error);
  }
};

ui.pause.onclick = async () => {
  if (!session) return;
  if (running) {
    running = false;
    await loopDone;
    ui.status.textContent = 'paused';
    ui.pause.textContent = 'Resume';
  } else if (session.canTrain) {
    run(session);
  }
};

ui.prepare.onclick = async () => {
  if (!session) return;
  const blobs = filesToBlobs(await session.files());
  ui.downloads.replaceChildren(
    ...Object.entries(blobs).map(([name, blob]) => {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.textContent = `${name} (${(blob.size / 1024).toFixed(0)} kB)`;
      return a;
    }),
  );
};

ui.saveOpfs.onclick = async () => {
  if (!session) return;
  await saveToOpfs(await session.files());
  ui.status.textContent = `saved step ${session.step} to browser storage`;
};

async function adopt(files: SessionFiles | null, from: string): Promise<void> {
  if (!files) {
    ui.status.textContent = `no checkpoint in ${from}`;
    return;
  }
  running = false;
  await loopDone;
  session?.model.dispose();
  session = await TrainingSession.fromFiles(files, backendChoice);
  session.setText(chosenText());
  fillHeadPickers(session);
  showStats(session);
  await refreshViews(session);
  ui.status.textContent = `loaded from ${from}; Resume trains it further on the chosen text`;
  ui.pause.disabled = false;
  ui.pause.textContent = 'Resume';
  ui.prepare.disabled = false;
  ui.saveOpfs.disabled = !hasOpfs();
}
ui.loadOpfs.onclick = () => loadFromOpfs().then((f) => adopt(f, 'browser storage'), showError);
ui.modelFiles.onchange = () =>
  filesFromBlobs(ui.modelFiles.files ?? []).then((f) => adopt(f, 'the picked files'), showError);
ui.layer.onchange = ui.head.onchange = () => session && !running && refreshViews(session);

/** What the browser test reads (and a console user can poke at). */
(globalThis as { playground?: unknown }).playground = {
  state: () => ({
    running,
    backend: session?.backend ?? null,
    step: session?.step ?? 0,
    losses: session?.losses.map((p) => p.loss) ?? [],
    tokensPerSecond: session?.tokensPerSecond ?? 0,
    sample: lastSample,
    status: ui.status.textContent,
    error: ui.error.textContent,
  }),
  session: () => session,
};

if (query.get('autostart') === '1') ui.start.click();
