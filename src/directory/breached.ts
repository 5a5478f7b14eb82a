/**
 * The most common breached passwords, from the password dictionary of @zxcvbn-ts/language-common
 * (about 18,000 of its entries are 8 characters or longer). Compared case-insensitively.
 */
import { dictionary } from '@zxcvbn-ts/language-common';

let common: Set<string> | undefined;

export function isCommonPassword(password: string): boolean {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common.has(password.toLowerCase());
}
