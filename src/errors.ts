/**
 * The one error type of Atrium. Thrown anywhere; rendered by the error middleware in src/http as
 * JSON for API callers or as a page for browsers. `expose` says whether `message` may be shown.
 */
export class AtriumError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string>;

  constructor(
    code: string,
    message: string,
    status = 400,
    options: { expose?: boolean; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AtriumError';
    this.code = code;
    this.status = status;
    this.expose = options.expose ?? status < 500;
    this.headers = options.headers ?? {};
  }
}

export const invalidInput = (message: string): AtriumError => new AtriumError('invalid_input', message, 400);
export const notFound = (message: string): AtriumError => new AtriumError('not_found', message, 404);
export const conflict = (message: string): AtriumError => new AtriumError('conflict', message, 409);

/**
 * The store could not answer in time: the caller should retry later. This error also travels
 * through oidc-provider's own error handler, which reads `statusCode`, takes `message` as the
 * OAuth error code and `error_description` as its sentence — so it carries both shapes.
 */
export class UnavailableError extends AtriumError {
  readonly statusCode = 503;
  readonly error_description = 'The service is temporarily unavailable, try again shortly';

  constructor(cause?: unknown) {
    super('temporarily_unavailable', 'temporarily_unavailable', 503, { expose: true, headers: { 'Retry-After': '2' }, cause });
  }
}

export const storeUnavailable = (cause?: unknown): AtriumError => new UnavailableError(cause);

/**
 * An error's message for an operator's terminal (a refused start, a command line): for an
 * unreachable store, its cause, without the credentials a URL in that cause may carry.
 */
export function operatorMessage(err: AtriumError): string {
  const cause = err instanceof UnavailableError && err.cause instanceof Error ? (err.cause as NodeJS.ErrnoException) : undefined;
  const why = cause?.message || cause?.code;
  return why ? `store unavailable: ${why.replace(/\/\/[^\s/@]*@/g, '//')}` : err.message;
}

/** The sentence to show for an error (the OAuth-shaped ones keep it in error_description). */
export const describe = (err: AtriumError): string => (err as { error_description?: string }).error_description ?? err.message;
