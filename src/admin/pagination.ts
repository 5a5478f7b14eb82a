/**
 * Pagination and search for every admin list: `limit` (1–200, default 50), `q` (case-insensitive
 * substring over the fields that `text` returns) and an opaque `cursor` naming the last item seen.
 * Items are ordered by `key`, so a cursor stays valid while items are added or removed.
 */
import { z } from 'zod';
import { parseInput } from '../directory/validation.js';
import { invalidInput } from '../errors.js';

const querySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
  q: z.string().trim().max(100).optional(),
});

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function paginate<T>(all: T[], query: unknown, key: (item: T) => string, text: (item: T) => string[]): Page<T> {
  const { limit, cursor, q } = parseInput(querySchema, query);
  let after: string | undefined;
  if (cursor) {
    try {
      after = z.string().parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')).after);
    } catch {
      throw invalidInput('cursor: is not a cursor of this list');
    }
  }
  const needle = q?.toLowerCase();
  const matching = all
    .filter((item) => !needle || text(item).some((t) => t.toLowerCase().includes(needle)))
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
    .filter((item) => after === undefined || key(item) > after);
  const items = matching.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next_cursor: matching.length > limit && last ? Buffer.from(JSON.stringify({ after: key(last) })).toString('base64url') : null,
  };
}

/** The query parameters every list accepts, for the OpenAPI document. */
export const LIST_QUERY = {
  limit: 'Page size, 1–200 (default 50)',
  cursor: 'Opaque cursor from the previous page’s next_cursor',
  q: 'Case-insensitive search',
};
