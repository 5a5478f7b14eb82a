/**
 * First start: the platform tenant (code `platform`) and its admin account. The password comes from
 * ATRIUM_ADMIN_PASSWORD, or is generated and returned so the caller can print it once.
 */
import { randomBytes } from 'node:crypto';
import { AtriumError } from '../errors.js';
import type { Directory } from './index.js';
import { PLATFORM_TENANT_CODE } from './tenants.js';

export const PLATFORM_ADMIN_USERNAME = 'admin';

export async function ensurePlatformAdmin(
  directory: Directory,
  configuredPassword: string | undefined,
): Promise<{ created: false } | { created: true; generatedPassword?: string }> {
  if (await directory.tenants.byCode(PLATFORM_TENANT_CODE)) return { created: false };
  let tenant;
  try {
    tenant = await directory.tenants.create({ code: PLATFORM_TENANT_CODE, name: 'Atrium platform' }, { platform: true });
  } catch (err) {
    // Another process bootstrapped at the same moment.
    if (err instanceof AtriumError && err.code === 'conflict') return { created: false };
    throw err;
  }
  const generatedPassword = configuredPassword ? undefined : randomBytes(18).toString('base64url');
  await directory.users.create(tenant.id, {
    username: PLATFORM_ADMIN_USERNAME,
    password: configuredPassword ?? generatedPassword,
    name: 'Platform admin',
    role: 'admin',
  });
  return generatedPassword ? { created: true, generatedPassword } : { created: true };
}
