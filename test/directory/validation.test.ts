/** Invalid input is answered in words an admin understands, naming the field (parseInput). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { displayName, isoDate, parseInput, recordId, redirectUri, tenantCode } from '../../src/directory/validation.js';
import { readUsersFile } from '../../src/directory/import.js';

const messageOf = (schema: z.ZodType, input: unknown): string => {
  try {
    parseInput(schema, input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the input was accepted');
};

describe('messages for invalid input', () => {
  it.each([
    ['a missing field', z.object({ code: tenantCode }), {}, 'code: is required'],
    ['a field of the wrong type', z.object({ name: displayName }), { name: 42 }, 'name: must be text'],
    ['text too long', z.object({ name: displayName }), { name: 'x'.repeat(201) }, 'name: must have at most 200 characters'],
    ['blank text', z.object({ name: displayName }), { name: '   ' }, 'name: must not be empty'],
    ['a number too large', z.object({ n: z.number().int().max(10) }), { n: 11 }, 'n: must be at most 10'],
    ['a fraction for a whole number', z.object({ n: z.number().int() }), { n: 1.5 }, 'n: must be a whole number'],
    ['a number that is not one', z.object({ limit: z.coerce.number() }), { limit: 'abc' }, 'limit: must be a number'],
    ['a value outside a choice', z.object({ role: z.enum(['user', 'admin']) }), { role: 'root' }, 'role: must be one of: user, admin'],
    ['an e-mail address (or nothing)', z.object({ email: z.union([z.email(), z.literal('')]) }), { email: 'nope' }, 'email: must be an e-mail address'],
    ['a date', z.object({ at: isoDate }), { at: 'tomorrow' }, 'at: must be a date and time with its time zone, as 2027-01-31T18:00:00Z'],
    ['an empty list', z.object({ uris: z.array(redirectUri).min(1) }), { uris: [] }, 'uris: must not be empty'],
    ['unknown fields', z.object({ a: z.string() }).strict(), { a: 'x', b: 1, c: 2 }, 'input: unknown fields: b, c'],
    ['an id', z.object({ userIds: z.array(recordId) }), { userIds: ['f'.repeat(31)] }, 'userIds.0: must be an id: 32 hexadecimal digits'],
    ['text not in a required form', z.object({ tag: z.string().regex(/^[a-z]+$/) }), { tag: 'A1' }, 'tag: is not in the expected form'],
  ])('says what is wrong with %s', (_what, schema, input, message) => {
    expect(messageOf(schema, input)).toBe(message);
  });

  it('keeps a rule’s own message', () => {
    expect(messageOf(z.object({ code: tenantCode }), { code: '!' })).toBe('code: must be 2-32 characters: letters, digits and "-", starting with a letter or digit');
    expect(messageOf(z.object({ uri: redirectUri }), { uri: 'http://evil.test/cb' })).toMatch(/^uri: must use https/);
    expect(messageOf(z.object({ uri: redirectUri }), { uri: `https://long.test/${'a'.repeat(2048)}` })).toBe('uri: must have at most 2048 characters');
    // Counted as it is sent: 400 characters of Chinese are 3,600 once percent-encoded.
    expect(messageOf(z.object({ uri: redirectUri }), { uri: `https://long.test/${'长'.repeat(400)}` })).toBe('uri: must have at most 2048 characters once encoded (this one has 3618)');
    expect(parseInput(z.object({ uri: redirectUri }), { uri: `https://long.test/${'a'.repeat(2000)}` }).uri).toHaveLength(2018);
  });

  it('says the same in an import’s line errors', () => {
    const { errors } = readUsersFile('username,password,role\nzoe,a sensible passphrase,root\n', 'csv');
    expect(errors).toEqual([{ line: 2, message: 'role: must be one of: user, admin' }]);
  });
});
