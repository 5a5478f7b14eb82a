/**
 * The platform tenant (code `platform`) and its admin account, made on the first start and again
 * on any start that finds the platform tenant without an admin (a first start that stopped between
 * the two writes). The password comes from ATRIUM_ADMIN_PASSWORD, or is generated and returned so
 * the caller can print it once.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AtriumError } from '../errors.js';
import type { Directory } from './index.js';
import { PLATFORM_TENANT_CODE } from './tenants.js';
import { parseInput, password } from './validation.js';

export const PLATFORM_ADMIN_USERNAME = 'admin';

export type BootstrapResult =
  | { created: false; warning?: string }
  | { created: true; generatedPassword?: string };

export async function ensurePlatformAdmin(directory: Directory, configuredPassword: string | undefined): Promise<BootstrapResult> {
  let tenant = await directory.tenants.byCode(PLATFORM_TENANT_CODE);
  if (tenant && !tenant.platform) {
    // Only possible in a store written before the code was reserved (`atrium tenant create --code platform`).
    return { created: false, warning: `tenant code ${PLATFORM_TENANT_CODE} belongs to a tenant that is not the platform's: there is no platform admin` };
  }
  if (tenant && (await directory.users.list(tenant.id)).some((user) => user.role === 'admin')) return { created: false };
  // Checked before anything is written, so that a refused password leaves nothing half made.
  if (configuredPassword !== undefined) parseInput(z.object({ ATRIUM_ADMIN_PASSWORD: password }), { ATRIUM_ADMIN_PASSWORD: configuredPassword });
  const generatedPassword = configuredPassword === undefined ? randomBytes(18).toString('base64url') : undefined;
  try {
    tenant ??= await directory.tenants.create({ code: PLATFORM_TENANT_CODE, name: 'Atrium platform' }, { platform: true });
    await directory.users.create(tenant.id, {
      username: PLATFORM_ADMIN_USERNAME,
      password: configuredPassword ?? generatedPassword,
      name: 'Platform admin',
      role: 'admin',
    });
  } catch (err) {
    if (!(err instanceof AtriumError && err.code === 'conflict')) throw err;
    // Another process bootstrapped at the same moment; or a user of that name is there but no
    // admin (demoted, or made a plain user), which bootstrap does not override: said, not silent.
    const platform = await directory.tenants.byCode(PLATFORM_TENANT_CODE);
    if (platform && (await directory.users.list(platform.id)).some((user) => user.role === 'admin')) return { created: false };
    return { created: false, warning: `the platform tenant has no admin and its user ${PLATFORM_ADMIN_USERNAME} is not one: there is no platform admin (give that user the admin role)` };
  }
  return generatedPassword ? { created: true, generatedPassword } : { created: true };
}
