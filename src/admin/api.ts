/**
 * The admin API under /admin/api/v1, JSON in and out, and its OpenAPI 3.1 document at
 * /admin/api/openapi.json — both made from the route table in routes.ts.
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { z } from 'zod';
import { ADMIN_ROUTES, type AdminDeps } from './routes.js';

export const ADMIN_API_PREFIX = '/admin/api/v1';

/** OpenAPI path → router path; a literal ':' (as in users:import) is escaped first. */
const koaPath = (path: string): string => path.replace(/:/g, '\\:').replace(/\{(\w+)\}/g, ':$1');
const pathParams = (path: string): string[] => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

export function openApiDocument(issuer: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ADMIN_ROUTES) {
    const operations = (paths[`${ADMIN_API_PREFIX}${route.path}`] ??= {});
    const status = String(route.status ?? 200);
    operations[route.method] = {
      summary: route.summary,
      operationId: `${route.method}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      'x-platform-admin-only': route.platformOnly === true,
      parameters: [
        ...pathParams(route.path).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
        ...Object.entries(route.query ?? {}).map(([name, description]) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } })),
      ],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(route.body) } } } } : {}),
      ...(route.textBody ? { requestBody: { required: true, content: Object.fromEntries(route.textBody.map((type) => [type, { schema: { type: 'string' } }])) } } : {}),
      responses: {
        [status]: { description: status === '204' ? 'Done' : 'OK' },
        400: { description: 'Invalid input; error_description names the field' },
        401: { description: 'Not signed in' },
        403: { description: 'Not an administrator, a missing or wrong X-CSRF-Token, or a platform-only route' },
        404: { description: 'Not found, or of another tenant' },
        409: { description: 'A conflict (a name already taken, a second rotation during a grace period…); error_description says which' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Atrium admin API', version: '1' },
    servers: [{ url: issuer }],
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: '_session', description: 'An administrator’s Atrium session (the cookie is named __Host-session when Atrium is served over https); state-changing requests also send X-CSRF-Token (GET /session gives it)' },
        management: {
          type: 'oauth2',
          description: 'A management app’s client_credentials token: scope atrium:admin (platform) or atrium:tenant-admin (its tenant)',
          flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { 'atrium:admin': 'platform administration', 'atrium:tenant-admin': 'administration of the app’s tenant' } } },
        },
      },
    },
    security: [{ session: [] }, { management: ['atrium:admin'] }, { management: ['atrium:tenant-admin'] }],
    paths,
  };
}

export function createAdminApi(deps: AdminDeps, issuer: string) {
  const router = new Router();
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' });
  // Imports: up to 50,000 rows (MAX_API_IMPORT_ROWS), of up to about 160 bytes each. Read as
  // latin1, which keeps each byte as one character, and handed to the route as the bytes sent: it
  // refuses a file that is not UTF-8 (a UTF-8 reading would have replaced the bytes it could not read).
  const text = bodyParser({ enableTypes: ['text'], extendTypes: { text: ['text/csv', 'application/x-ndjson', 'application/jsonl'] }, textLimit: '8mb', encoding: 'latin1' });
  const document = openApiDocument(issuer);

  router.get('/admin/api/openapi.json', (ctx) => {
    ctx.body = document;
  });

  for (const route of ADMIN_ROUTES) {
    router[route.method](`${ADMIN_API_PREFIX}${koaPath(route.path)}`, route.textBody ? text : json, async (ctx) => {
      const principal = await deps.auth.principal(ctx);
      if (route.platformOnly) deps.auth.requirePlatform(principal);
      const body = route.textBody && typeof ctx.request.body === 'string' ? Buffer.from(ctx.request.body, 'latin1') : ctx.request.body;
      const result = await route.handle({ ctx, principal, params: ctx.params as Record<string, string>, body, deps });
      ctx.set('Cache-Control', 'no-store');
      if (ctx.status === 404) ctx.status = route.status ?? 200; // a handler may have set its own status
      if (ctx.status !== 204) ctx.body = result;
    });
  }
  return router;
}

/** "METHOD /path" of every route a router serves, in OpenAPI path style (for the document test). */
export const servedRoutes = (router: Router): string[] =>
  router.stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/(?<!\\):(\w+)/g, '{$1}').replace(/\\:/g, ':')}`),
  );
