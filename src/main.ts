/** Process entry: config → app → listen; graceful shutdown on SIGTERM and SIGINT. */
import { createServer } from 'node:http';
import { closeServer, createAtrium } from './app.js';
import { ConfigError, loadConfig } from './config/index.js';
import { ensurePlatformAdmin, PLATFORM_ADMIN_USERNAME } from './directory/bootstrap.js';
import { PLATFORM_TENANT_CODE } from './directory/tenants.js';
import { AtriumError } from './errors.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  const atrium = await createAtrium(config, logger);

  const admin = await ensurePlatformAdmin(atrium.directory, config.adminPassword);
  if (admin.created && 'generatedPassword' in admin && admin.generatedPassword) {
    // Printed once, on the first start only; it is not logged anywhere else.
    process.stdout.write(
      `\nPlatform admin created. Sign in with organisation "${PLATFORM_TENANT_CODE}", username "${PLATFORM_ADMIN_USERNAME}", password: ${admin.generatedPassword}\n` +
        'Keep it now: it will not be shown again. Set ATRIUM_ADMIN_PASSWORD on first start to choose it.\n\n',
    );
  }

  const server = createServer(atrium.callback);
  server.listen(config.port, () => {
    logger.info({ issuer: config.issuer, port: config.port, store: config.store.driver }, `Atrium listening on ${config.issuer}`);
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await closeServer(server);
    await atrium.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof AtriumError ? err.message : String(err);
  process.stderr.write(`atrium: ${message}\n`);
  process.exit(1);
});
