/**
 * The public address of every request is the issuer's: Atrium answers at one URL, whatever Host or
 * X-Forwarded-Host a client (or a proxy passing the client's on) sends. The provider builds its
 * endpoints, forms and redirects from the request's host, so a forged one would otherwise appear in
 * discovery (cacheable) and in pages, and a malformed one failed the provider with a 500.
 *
 * The scheme is the issuer's when it is https (TLS ends at a proxy: cookies are Secure and HSTS is
 * sent, whether or not the proxy says X-Forwarded-Proto); with an http issuer, a trusted proxy's
 * X-Forwarded-Proto still counts. Client addresses come from X-Forwarded-For only through the
 * configured number of trusted proxies (Koa's `maxIpsCount`): with none, the header is dropped.
 *
 * Runs on the raw request, before Koa reads it; Koa's `proxy` is then on for every request.
 */
import type { IncomingHttpHeaders } from 'node:http';

export function createPublicAddress(issuer: string, trustProxyHops: number): (req: { headers: IncomingHttpHeaders }) => void {
  const url = new URL(issuer);
  const https = url.protocol === 'https:';
  return (req) => {
    const headers = req.headers;
    headers.host = url.host;
    delete headers['x-forwarded-host'];
    if (https) headers['x-forwarded-proto'] = 'https';
    else if (trustProxyHops === 0) delete headers['x-forwarded-proto'];
    if (trustProxyHops === 0) delete headers['x-forwarded-for'];
  };
}
