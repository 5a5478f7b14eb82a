/**
 * The admin pages' words, in the pages' two languages (the language is chosen as for every page,
 * http/i18n.ts). Templates get `t`, which knows these and the common pages' keys; admin.js gets the
 * `admin.script.*` ones as JSON in #admin-messages, and keeps no text of its own. Error messages from
 * the admin API stay in English.
 */
import { translator, type Locale, type MessageKey } from '../../http/i18n.js';
import { en, type AdminMessageKey } from './en.js';
import { zhCN } from './zh-CN.js';

const MESSAGES: Record<Locale, Record<AdminMessageKey, string>> = { en, 'zh-CN': zhCN };
const SCRIPT = 'admin.script.';

export type AdminTranslate = (key: AdminMessageKey | MessageKey, values?: Record<string, string | number>) => string;

export function adminTranslator(locale: Locale): AdminTranslate {
  const messages = MESSAGES[locale];
  const common = translator(locale);
  return (key, values = {}) =>
    key in messages ? messages[key as AdminMessageKey].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole)) : common(key as MessageKey, values);
}

/** admin.js's words (`admin.script.{name}` as `{name}`), its own placeholders left for it to fill. */
export function scriptMessages(locale: Locale): Record<string, string> {
  return Object.fromEntries(Object.entries(MESSAGES[locale]).filter(([key]) => key.startsWith(SCRIPT)).map(([key, text]) => [key.slice(SCRIPT.length), text]));
}
