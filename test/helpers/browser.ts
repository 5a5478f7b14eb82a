/**
 * A minimal browser for flow tests: a cookie jar (path-aware) and manual redirects, so a test can
 * walk the authorization flow step by step and stop at an app's callback without fetching it.
 */
export interface Page {
  status: number;
  url: string;
  location?: string;
  body: string;
  headers: Headers;
}

interface Cookie {
  value: string;
  path: string;
}

export class Browser {
  private readonly jar = new Map<string, Cookie>();

  /**
   * `alsoHome`: other origins that share this cookie jar — as a real browser shares cookies between
   * ports of one host (two Atrium processes on one machine, say).
   */
  constructor(
    private readonly origin: string,
    private readonly alsoHome: string[] = [],
  ) {}

  private isHome(url: URL): boolean {
    return url.origin === this.origin || this.alsoHome.includes(url.origin);
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name)?.value;
  }

  setCookie(name: string, value: string, path = '/'): void {
    this.jar.set(name, { value, path });
  }

  private cookieHeader(url: URL): string {
    return [...this.jar.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  private remember(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attributes.some((a) => /^expires=Thu, 01 Jan 1970/i.test(a.trim())) || value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, { value, path });
    }
  }

  async request(url: string, init: RequestInit = {}): Promise<Page> {
    const target = new URL(url, this.origin);
    const headers = new Headers(init.headers);
    headers.set('accept', headers.get('accept') ?? 'text/html');
    const cookie = this.isHome(target) ? this.cookieHeader(target) : '';
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    if (this.isHome(target)) this.remember(response.headers);
    const location = response.headers.get('location') ?? undefined;
    return {
      status: response.status,
      url: target.href,
      location: location ? new URL(location, target).href : undefined,
      body: await response.text(),
      headers: response.headers,
    };
  }

  get(url: string): Promise<Page> {
    return this.request(url);
  }

  post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Page> {
    return this.request(url, {
      method: 'POST',
      body: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
  }

  /** Follows redirects within Atrium; stops at a page or at a redirect to another origin. */
  async follow(url: string, max = 10): Promise<Page> {
    let page = await this.get(url);
    for (let i = 0; i < max && page.location && new URL(page.location).origin === this.origin; i += 1) {
      page = await this.get(page.location);
    }
    return page;
  }
}

/** The form action of the first form on a page. */
export const formAction = (html: string): string => {
  const match = /<form[^>]*action="([^"]+)"/.exec(html);
  if (!match) throw new Error('no form on the page');
  return match[1]!.replace(/&amp;/g, '&');
};

/** The hidden fields of the first form on a page (the CSRF token), to post along with the user's. */
export const hiddenFields = (html: string): Record<string, string> =>
  Object.fromEntries(
    [...html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)].map((m) => [/name="([^"]+)"/.exec(m[0])?.[1] ?? '', /value="([^"]*)"/.exec(m[0])?.[1] ?? '']),
  );

/** Submits the first form on a page as a browser would: its hidden fields plus the given ones. */
export const submitForm = (browser: Browser, page: Page, fields: Record<string, string>): Promise<Page> =>
  browser.post(formAction(page.body), { ...hiddenFields(page.body), ...fields });

export const inputValue = (html: string, name: string): string | undefined =>
  new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1] ??
  new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`).exec(html)?.[1];

/**
 * Signs in through the real login form when asked to, and returns where Atrium finally sends the
 * browser: the redirect to the app's callback (or an Atrium page when it stops there).
 */
export async function authorize(browser: Browser, authUrl: string, credentials?: { tenant: string; username: string; password: string }): Promise<Page> {
  let page = await browser.follow(authUrl);
  if (page.status === 200 && credentials && page.url.includes('/interaction/')) {
    const posted = await submitForm(browser, page, credentials);
    if (!posted.location) return posted;
    page = await browser.follow(posted.location);
  }
  return page;
}
