/**
 * Launch tickets: an authorization request that the workbench starts for an app (the
 * joint-operation launch) carries `atrium_launch`, an HMAC over the client id and an expiry. Only
 * Atrium can mint one, so only its own launches are exempt from PKCE: the app did not start that
 * request and has no verifier to send. Every request an app starts itself needs PKCE.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const LAUNCH_PARAM = 'atrium_launch';
const LIFETIME_SECONDS = 120;

export function createLaunchTickets(secret: string) {
  const mac = (clientId: string, exp: number): string => createHmac('sha256', secret).update(`launch.${clientId}.${exp}`).digest('base64url');
  return {
    mint(clientId: string): string {
      const exp = Math.floor(Date.now() / 1000) + LIFETIME_SECONDS;
      return `${exp}.${mac(clientId, exp)}`;
    },
    verify(ticket: unknown, clientId: string): boolean {
      if (typeof ticket !== 'string') return false;
      const [expText, given] = ticket.split('.');
      const exp = Number(expText);
      if (!Number.isInteger(exp) || exp < Date.now() / 1000 || !given) return false;
      const expected = Buffer.from(mac(clientId, exp));
      const actual = Buffer.from(given);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
}

export type LaunchTickets = ReturnType<typeof createLaunchTickets>;
