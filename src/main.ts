/** Process entry (`npm start`, and each worker of `atrium start --workers N`): see server.ts. */
import { ConfigError } from './config/index.js';
import { AtriumError, operatorMessage } from './errors.js';
import { startServer } from './server.js';

startServer(process.env).catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : err instanceof AtriumError ? operatorMessage(err) : String(err);
  process.stderr.write(`atrium: ${message}\n`);
  process.exit(1);
});
