/**
 * A bounded work queue: at most `concurrency` jobs run at once, at most `maxQueue` wait, and any
 * further job is refused at once with 503 and Retry-After. Used for argon2, whose memory and CPU
 * per call would otherwise let a burst of sign-ins starve every other request.
 */
import { AtriumError } from '../errors.js';

export interface WorkQueue {
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Jobs running and waiting now (for metrics). */
  depth(): number;
}

export function createWorkQueue(options: { concurrency: number; maxQueue: number }): WorkQueue {
  let running = 0;
  const waiting: (() => void)[] = [];

  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };

  return {
    async run(job) {
      if (running >= options.concurrency) {
        if (waiting.length >= options.maxQueue) {
          throw new AtriumError('temporarily_unavailable', 'Too many sign-ins at once, try again in a moment', 503, { headers: { 'Retry-After': '2' } });
        }
        // The slot is handed over by release(), so `running` stays counted for this job.
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else {
        running += 1;
      }
      try {
        return await job();
      } finally {
        release();
      }
    },
    depth: () => running + waiting.length,
  };
}
