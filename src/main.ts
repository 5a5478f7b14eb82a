/** Process entry (`npm start`, and each worker of `atrium start --workers N`): see server.ts. */
import { ConfigError } from './config/index.js';
import { AtriumError } from './errors.js';
import { startServer } from './server.js';

startServer(process.env).catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof AtriumError ? err.message : String(err);
  process.stderr.write(`atrium: ${message}\n`);
  process.exit(1);
});
