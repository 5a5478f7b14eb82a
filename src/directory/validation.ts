/** Input rules shared by the directory's write operations; a violation names its field. */
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { isCommonPassword } from './breached.js';

/** Zod's own messages ("Invalid input: expected string, received undefined") said for people. */
const LIMITED = { string: ['characters'], array: ['items'], set: ['items'] } as const;
const KINDS: Record<string, string> = { string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'an object', date: 'a date' };
const FORMATS: Record<string, string> = {
  email: 'must be an e-mail address',
  url: 'must be a URL',
  datetime: 'must be a date and time with its time zone, as 2027-01-31T18:00:00Z',
};

export function readableIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${KINDS[issue.expected] ?? issue.expected}`;
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const bound = Number(big ? issue.maximum : issue.minimum);
      const limit = issue.inclusive === false ? (big ? 'less than' : 'more than') : big ? 'at most' : 'at least';
      const counted = LIMITED[issue.origin as keyof typeof LIMITED];
      if (counted) return !big && bound === 1 ? 'must not be empty' : `must have ${limit} ${bound} ${counted[0]}`;
      return `must be ${limit} ${bound}`;
    }
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return FORMATS[issue.format] ?? 'is not in the expected form';
    case 'unrecognized_keys':
      return `unknown ${issue.keys.length === 1 ? 'field' : 'fields'}: ${issue.keys.join(', ')}`;
    case 'invalid_union': {
      const first = issue.errors[0]?.[0];
      return first?.message;
    }
    default:
      return undefined;
  }
}

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input, { error: readableIssue });
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

/** The id of a tenant, user or app. */
export const recordId = z.string().regex(/^[0-9a-f]{32}$/, 'must be an id: 32 hexadecimal digits');

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URI Atrium may redirect a browser to or call (RFC 9700 §2.1 and §4.1): absolute, https (http
 * only for loopback hosts), no fragment, no wildcard, no user info; at most 2048 characters once
 * encoded (as it goes in a Location header), as browsers and servers commonly accept.
 */
export const redirectUri = z.string().max(2048).superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return;
  }
  if (url.href.length > 2048) {
    ctx.addIssue({ code: 'custom', message: `must have at most 2048 characters once encoded (this one has ${url.href.length})` });
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
