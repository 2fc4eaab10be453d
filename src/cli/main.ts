#!/usr/bin/env node
/**
 * The `cowstack` executable. It only wires the process to `runCli`: argv, environment, standard
 * streams, and signals. The first SIGINT (Ctrl-C) or SIGTERM aborts the running operation through
 * its `AbortSignal`; the store is then closed as it was (lock released) and the process exits
 * 130 (143 for SIGTERM). A second one exits at once, without closing the store: the writer lock
 * it leaves names a dead process, so the next open takes it over.
 */
import { Interrupted } from './exitStatus.js';
import { runCli } from './runCli.js';

const controller = new AbortController();

function interrupt(signal: NodeJS.Signals): void {
  if (!controller.signal.aborted) {
    controller.abort(new Interrupted(signal));
    return;
  }
  process.stderr.write(`cowstack: ABORT_ERR: ${signal} again: exiting without closing the store\n`);
  process.exit(new Interrupted(signal).exitStatus);
}

process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
process.exitCode = await runCli({
  argv: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
