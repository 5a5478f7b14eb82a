/** Structured JSON logs. Secrets are redacted by path wherever they could appear. */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'atrium' } }, destination as never);
}
