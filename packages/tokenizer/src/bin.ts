#!/usr/bin/env node
// Entry point of the `kiln-tokenizer` command (see cli.ts).
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2));
