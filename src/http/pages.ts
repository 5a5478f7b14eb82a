/** Server-rendered pages: pug templates from views/, compiled once, never cached by browsers. */
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import pug from 'pug';

const VIEWS = fileURLToPath(new URL('../../views/', import.meta.url));

export type Render = (ctx: Context, view: string, locals?: Record<string, unknown>, status?: number) => void;

export function createRenderer(): Render {
  const compiled = new Map<string, pug.compileTemplate>();
  const template = (view: string): pug.compileTemplate => {
    let fn = compiled.get(view);
    if (!fn) {
      fn = pug.compileFile(`${VIEWS}${view}.pug`, { basedir: VIEWS });
      compiled.set(view, fn);
    }
    return fn;
  };
  return (ctx, view, locals = {}, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = template(view)(locals);
  };
}
