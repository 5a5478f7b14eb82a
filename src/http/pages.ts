/**
 * Server-rendered pages: pug templates from views/, compiled once, never cached by browsers. Every
 * page gets the request's language (`lang`, `t`) and links to switch it.
 */
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import pug from 'pug';
import { formatDate, localeOf, LOCALES, translator } from './i18n.js';

const VIEWS = fileURLToPath(new URL('../../views/', import.meta.url));

export type Render = (ctx: Context, view: string, locals?: Record<string, unknown>, status?: number) => void;

/** Links to this page in each language; pages answering a POST link to `langBase` instead. */
function languageLinks(ctx: Context, base: string | undefined): { locale: string; href: string }[] {
  // (Never a path that a browser would read as another site's: `//host/…` or `/\host/…`.)
  const path = base ?? (ctx.method === 'GET' && !/^\/[/\\]/.test(ctx.path) ? ctx.path : '/');
  return LOCALES.map((locale) => {
    const query = new URLSearchParams(base === undefined && ctx.method === 'GET' ? ctx.querystring : '');
    query.set('lang', locale);
    return { locale, href: `${path}?${query}` };
  });
}

export function createRenderer(): Render {
  const compiled = new Map<string, pug.compileTemplate>();
  const template = (view: string): pug.compileTemplate => {
    let fn = compiled.get(view);
    if (!fn) {
      // doctype html also for what is compiled before a layout's doctype (mixins declared outside a
      // block): pug would render it as XHTML otherwise (checked="checked" />).
      fn = pug.compileFile(`${VIEWS}${view}.pug`, { basedir: VIEWS, doctype: 'html' });
      compiled.set(view, fn);
    }
    return fn;
  };
  return (ctx, view, locals = {}, status = 200) => {
    const lang = localeOf(ctx);
    const t = translator(lang);
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = template(view)({
      lang,
      t,
      date: (iso: string) => formatDate(lang, iso),
      languages: languageLinks(ctx, locals.langBase as string | undefined),
      languageNames: { en: 'English', 'zh-CN': '简体中文' },
      cspNonce: ctx.state.cspNonce as string | undefined,
      ...locals,
    });
  };
}
