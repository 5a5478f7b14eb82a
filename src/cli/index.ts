/** The `atrium` executable: runs one command line with the process's arguments and environment. */
import { text } from 'node:stream/consumers';
import { runCli } from './main.js';

const code = await runCli(process.argv.slice(2), process.env, {
  stdin: () => text(process.stdin),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
process.exitCode = code;
