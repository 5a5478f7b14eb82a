/** `npm run demo`: the guided tour on fixed ports (DEMO_PORT, default 3000, and the next two). */
import { startDemo } from './main.js';

const base = Number(process.env.DEMO_PORT ?? 3000);
// Its own folder, wiped at every start: never the server's ATRIUM_DATA_DIR.
const dataDir = process.env.DEMO_DATA_DIR ?? './data/demo';
const demo = await startDemo({ dataDir, ports: [base, base + 1, base + 2] }).catch((err: NodeJS.ErrnoException) => {
  // One line, not a stack trace: a port taken (another demo?) is the usual reason.
  const why = err.code === 'EADDRINUSE' ? `a port from ${base} to ${base + 2} is taken; set DEMO_PORT to use three others` : err.message;
  process.stderr.write(`atrium demo: ${why}\n`);
  process.exit(1);
});
const { urls, credentials } = demo;
process.stdout.write(`
Atrium demo is running.

  1. Open ${urls.atrium}/ and sign in:
       organisation  ${credentials.tenant}
       username      ${credentials.user}          (or ${credentials.admin}, the tenant admin)
       password      ${credentials.password}
  2. Click "Acme CRM": Atrium sends a code and the tenant straight to its callback (${urls.crm}).
  3. Click "Team Notes": the app starts its own sign-in from initiate_login_uri (${urls.notes}).
  Each app shows what it received, can refresh its token and sign out.
  4. Administration: ${urls.atrium}/admin — as the tenant admin above, or as the platform admin
     (organisation platform, username admin, the same password).

  Press Ctrl+C to stop. The demo's data lives in ${dataDir} and is recreated at every start.
`);

const stop = async (): Promise<void> => {
  await demo.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
