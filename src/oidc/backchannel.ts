/**
 * OpenID Connect back-channel logout delivery with retries. The provider builds and signs the
 * logout token (`client.backchannelLogout`); this module retries a failed delivery with backoff and
 * records every outcome in the audit trail. Delivery never blocks the user's sign-out.
 */
import type { Directory } from '../directory/index.js';

/** The part of the provider's Client used here (its typings lack `backchannelLogout`). */
export interface BackchannelClient {
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogout(accountId: string, sid: string | undefined): Promise<void>;
}

export type Backchannel = ReturnType<typeof createBackchannel>;

export function createBackchannel(directory: Directory, options: { retryDelaysMs?: number[] } = {}) {
  const delays = options.retryDelaysMs ?? [500, 2000, 8000];
  const pending = new Set<Promise<void>>();

  const record = async (accountId: string, clientId: string, result: 'delivered' | 'failed', attempts: number, error?: string) => {
    const user = await directory.users.byId(accountId).catch(() => undefined);
    if (!user) return;
    await directory.audit
      .record({ type: 'logout.backchannel', tenantId: user.tenantId, userId: accountId, clientId, detail: { result, attempts, ...(error ? { error } : {}) } })
      .catch(() => undefined);
  };

  const attempt = async (client: BackchannelClient, accountId: string, sid: string | undefined, done: number, lastError?: string): Promise<void> => {
    let error = lastError;
    for (let i = done; i <= delays.length; i += 1) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, delays[i - 1]).unref());
      try {
        await client.backchannelLogout(accountId, sid);
        await record(accountId, client.clientId, 'delivered', i + 1);
        return;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
    }
    await record(accountId, client.clientId, 'failed', delays.length + 1, error);
  };

  const track = (work: Promise<void>): void => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  return {
    /** Delivers a logout token to the app, retrying in the background. */
    notify(client: BackchannelClient, accountId: string, sid: string | undefined): void {
      if (client.backchannelLogoutUri) track(attempt(client, accountId, sid, 0));
    },
    /** The provider made the first attempt itself (RP-initiated logout): record or retry it. */
    firstAttemptDone(client: BackchannelClient, accountId: string, sid: string | undefined, error?: Error): void {
      track(error ? attempt(client, accountId, sid, 1, error.message) : record(accountId, client.clientId, 'delivered', 1));
    },
    /** Waits for deliveries under way (shutdown, tests). */
    async settle(): Promise<void> {
      await Promise.all([...pending]);
    },
  };
}
