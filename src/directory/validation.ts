/** Input rules shared by the directory's write operations; a violation names its field. */
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { isCommonPassword } from './breached.js';

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || 'input';
  throw invalidInput(`${field}: ${issue?.message ?? 'is invalid'}`);
}

export const tenantCode = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9-]{1,31}$/, 'must be 2-32 characters: letters, digits and "-", starting with a letter or digit');

export const username = z
  .string()
  .trim()
  .normalize('NFKC')
  .regex(/^[\p{L}\p{N}._@+-]{1,64}$/u, 'must be 1-64 characters: letters, digits and . _ @ + -');

/**
 * NIST SP 800-63B: 8 to 256 characters, no composition rules, no truncation, and none of the most
 * common breached passwords.
 */
export const password = z
  .string()
  .min(8, 'must have at least 8 characters')
  .max(256, 'must have at most 256 characters')
  .refine((value) => !isCommonPassword(value), 'is one of the most common breached passwords; choose another');

export const displayName = z.string().trim().min(1).max(200);

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URI Atrium may redirect a browser to or call (RFC 9700 §2.1 and §4.1): absolute, https (http
 * only for loopback hosts), no fragment, no wildcard, no user info.
 */
export const redirectUri = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return;
  }
  const problem =
    url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
      ? value.includes('#')
        ? 'must not contain a fragment'
        : value.includes('*')
          ? 'must not contain a wildcard'
          : url.username || url.password
            ? 'must not contain user information'
            : undefined
      : 'must use https (http only for localhost, 127.0.0.1 or [::1])';
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const isoDate = z.iso.datetime({ offset: true });
