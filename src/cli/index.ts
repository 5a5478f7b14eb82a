/** The `atrium` executable: runs one command line with the process's arguments and environment. */
import { text } from 'node:stream/consumers';
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

const code = await runCli(process.argv.slice(2), process.env, {
  stdin: () => text(process.stdin),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  progress: drawProgress,
});
process.exitCode = code;
