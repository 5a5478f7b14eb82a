/**
 * A minimal browser for preparing the bench (as test/helpers/browser.ts): a path-aware cookie jar
 * and manual redirects, so the sign-in flow can be walked step by step and stopped at an app's
 * callback without fetching it.
 */
export class Browser {
  #jar = new Map();

  constructor(origin) {
    this.origin = origin;
  }

  cookie(name) {
    return this.#jar.get(name)?.value;
  }

  setCookie(name, value, path = '/') {
    this.#jar.set(name, { value, path });
  }

  /** The Cookie header this browser sends to `path`. */
  cookieHeader(path = '/') {
    return [...this.#jar.entries()]
      .filter(([, c]) => path.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  #remember(headers) {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attributes.some((a) => /^expires=Thu, 01 Jan 1970/i.test(a.trim())) || value === '';
      if (expired) this.#jar.delete(name);
      else this.#jar.set(name, { value, path });
    }
  }

  async request(url, init = {}) {
    const target = new URL(url, this.origin);
    const home = target.origin === this.origin;
    const headers = new Headers(init.headers);
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    const cookie = home ? this.cookieHeader(target.pathname) : '';
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    if (home) this.#remember(response.headers);
    const location = response.headers.get('location');
    return { status: response.status, url: target.href, location: location ? new URL(location, target).href : undefined, body: await response.text(), headers: response.headers };
  }

  get(url) {
    return this.request(url);
  }

  post(url, form, headers = {}) {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }

  /** Follows redirects within this origin; stops at a page or at a redirect elsewhere. */
  async follow(url, max = 10) {
    let page = await this.get(url);
    for (let i = 0; i < max && page.location && new URL(page.location).origin === this.origin; i += 1) page = await this.get(page.location);
    return page;
  }
}

export const formAction = (html) => {
  const match = /<form[^>]*action="([^"]+)"/.exec(html);
  if (!match) throw new Error('no form on the page');
  return match[1].replace(/&amp;/g, '&');
};

export const hiddenFields = (html) =>
  Object.fromEntries(
    [...html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)].map((m) => [/name="([^"]+)"/.exec(m[0])?.[1] ?? '', /value="([^"]*)"/.exec(m[0])?.[1] ?? '']),
  );

/** Submits the first form of a page as a browser would: its hidden fields plus the given ones. */
export const submitForm = (browser, page, fields) => browser.post(formAction(page.body), { ...hiddenFields(page.body), ...fields });
