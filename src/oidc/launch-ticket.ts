/**
 * Launch tickets: an authorization request that the workbench starts for an app (the
 * joint-operation launch) carries `atrium_launch`, an HMAC over the client id, the callback, the
 * browser session it was made for and an expiry. Only Atrium can mint one, so only its own launches
 * are exempt from PKCE: the app did not start that request and has no verifier to send. Every
 * request an app starts itself needs PKCE. A ticket works only in the session it was made for and
 * only for that callback: copied into a link for someone else, or to another callback, it exempts
 * nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const LAUNCH_PARAM = 'atrium_launch';
const LIFETIME_SECONDS = 120;

/** What a ticket is for: the app, its callback, and the browser session (its uid) that launched it. */
export interface LaunchFor {
  clientId: string;
  redirectUri: string;
  sessionUid: string;
}

export function createLaunchTickets(secret: string) {
  const mac = (to: LaunchFor, exp: number): string =>
    createHmac('sha256', secret).update(JSON.stringify(['launch', to.clientId, to.redirectUri, to.sessionUid, exp])).digest('base64url');
  return {
    mint(to: LaunchFor): string {
      const exp = Math.floor(Date.now() / 1000) + LIFETIME_SECONDS;
      return `${exp}.${mac(to, exp)}`;
    },
    verify(ticket: unknown, to: Partial<LaunchFor>): boolean {
      if (typeof ticket !== 'string' || !to.clientId || !to.redirectUri || !to.sessionUid) return false;
      const [expText, given] = ticket.split('.');
      const exp = Number(expText);
      if (!Number.isInteger(exp) || exp < Date.now() / 1000 || !given) return false;
      const expected = Buffer.from(mac(to as LaunchFor, exp));
      const actual = Buffer.from(given);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
}

export type LaunchTickets = ReturnType<typeof createLaunchTickets>;
