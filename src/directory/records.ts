/** JSON records in the store: one key per record, plus the index sets the directory keeps. */
import type { Store } from '../store/store.js';

export async function readRecord<T>(store: Store, key: string): Promise<T | undefined> {
  const raw = await store.get(key);
  return raw === undefined ? undefined : (JSON.parse(raw) as T);
}

export async function readRecords<T>(store: Store, keys: string[]): Promise<T[]> {
  const raws = await store.getMany(keys);
  return raws.flatMap((raw) => (raw === undefined ? [] : [JSON.parse(raw) as T]));
}

export const writeRecord = (store: Store, key: string, record: unknown): Promise<boolean> =>
  store.set(key, JSON.stringify(record));

export const now = (): string => new Date().toISOString();
