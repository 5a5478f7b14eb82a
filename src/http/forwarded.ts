/**
 * The public address of every request is the issuer's: Atrium answers at one URL, whatever Host or
 * X-Forwarded-Host a client (or a proxy passing the client's on) sends. The provider builds its
 * endpoints, forms and redirects from the request's host, so a forged one would otherwise appear in
 * discovery (cacheable) and in pages, and a malformed one failed the provider with a 500.
 *
 * The scheme is the issuer's too (with an https issuer TLS ends at a proxy: cookies are Secure and
 * HSTS is sent, whether or not the proxy says X-Forwarded-Proto; a client's X-Forwarded-Proto passed
 * on by a proxy changes nothing). Client addresses come from X-Forwarded-For only through the
 * configured number of trusted proxies (Koa's `maxIpsCount`): with none, the header is dropped.
 *
 * Runs on the raw request, before Koa reads it; Koa's `proxy` is then on for every request.
 */
import type { IncomingHttpHeaders } from 'node:http';

export function createPublicAddress(issuer: string, trustProxyHops: number): (req: { headers: IncomingHttpHeaders; url?: string }) => void {
  const url = new URL(issuer);
  return (req) => {
    const headers = req.headers;
    headers.host = url.host;
    delete headers['x-forwarded-host'];
    headers['x-forwarded-proto'] = url.protocol.slice(0, -1);
    if (trustProxyHops === 0) delete headers['x-forwarded-for'];
    // A request line in absolute form (`GET http://evil.example/… HTTP/1.1`) names a host too, which
    // Koa would take for the request's URL: only its path and query are kept.
    if (req.url !== undefined && !req.url.startsWith('/') && req.url !== '*') req.url = originForm(req.url);
  };
}

/** The path and query of an absolute request target; one that is no URL becomes a path nothing answers. */
function originForm(target: string): string {
  try {
    const { pathname, search } = new URL(target);
    return pathname.startsWith('/') ? pathname + search : INVALID_TARGET;
  } catch {
    return INVALID_TARGET;
  }
}

const INVALID_TARGET = '/.invalid-request-target';

