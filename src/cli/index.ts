/** The `atrium` executable: runs one command line with the process's arguments and environment. */
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { runCli } from './main.js';

/** A progress bar on a terminal; on a pipe, a line every 10 %. */
let lastTenth = -1;
function drawProgress(done: number, total: number): void {
  const ratio = total === 0 ? 1 : done / total;
  if (process.stderr.isTTY) {
    const width = 30;
    const filled = Math.round(ratio * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total}${done === total ? '\n' : ''}`);
  } else if (Math.floor(ratio * 10) > lastTenth) {
    lastTenth = Math.floor(ratio * 10);
    process.stderr.write(`${Math.floor(ratio * 100)}% ${done}/${total}\n`);
  }
}

// `atrium start [--workers N]` runs the server (see server.ts); every other command runs and exits.
if (process.argv[2] === 'start') {
  const { startServer } = await import('../server.js');
  const { parseWorkers, ConfigError } = await import('../config/index.js');
  let workers: number | undefined;
  try {
    const { values } = parseArgs({ args: process.argv.slice(3), options: { workers: { type: 'string' } } });
    workers = values.workers === undefined ? undefined : parseWorkers(values.workers);
  } catch (err) {
    process.stderr.write(`atrium: ${(err as Error).message}\nusage: atrium start [--workers N|auto]\n`);
    process.exit(2);
  }
  await startServer(process.env, workers === undefined ? {} : { workers }).catch(async (err: unknown) => {
    const { AtriumError, operatorMessage } = await import('../errors.js');
    process.stderr.write(`atrium: ${err instanceof ConfigError ? err.message : err instanceof AtriumError ? operatorMessage(err) : String(err)}\n`);
    process.exit(1);
  });
} else {
  process.exitCode = await runCli(process.argv.slice(2), process.env, {
    stdin: () => text(process.stdin),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progress: drawProgress,
  });
}
