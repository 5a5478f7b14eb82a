/** A real Atrium server on a free loopback port, on the given store driver, for one test file. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, createAtrium, type Atrium } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { testStoreConfig, type DriverName } from './stores.js';

export interface TestServer {
  issuer: string;
  atrium: Atrium;
  server: Server;
  close(): Promise<void>;
}

export async function startAtrium(driver: DriverName, adjust: (config: Config) => void = () => undefined): Promise<TestServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const { config: storeConfig, cleanup } = testStoreConfig(driver);
  const config = loadConfig({ ATRIUM_ISSUER: issuer, PORT: String(port) });
  config.store = storeConfig;
  adjust(config);
  const atrium = await createAtrium(config, createLogger('silent'));
  server.on('request', atrium.callback);
  return {
    issuer,
    atrium,
    server,
    async close() {
      await closeServer(server, 1000);
      await atrium.close();
      await cleanup();
    },
  };
}
