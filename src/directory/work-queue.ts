/**
 * A bounded work queue: at most `concurrency` jobs run at once, at most `maxQueue` wait, and any
 * further job is refused at once with 503 and Retry-After. Used for argon2, whose memory and CPU
 * per call would otherwise let a burst of sign-ins starve every other request.
 *
 * Background jobs (an import's hashing) wait in a lane of their own, without a bound and without
 * taking the waiting room of sign-ins: they run only when no sign-in waits, at most
 * `concurrency - 1` of them at once (one when `concurrency` is 1), so that a large import, or many,
 * slows sign-ins down a little but never gets them refused.
 */
import { AtriumError } from '../errors.js';

export interface WorkQueue {
  run<T>(job: () => Promise<T>, options?: { background?: boolean }): Promise<T>;
  /** Jobs running and waiting now, in both lanes (for metrics). */
  depth(): number;
}

export function createWorkQueue(options: { concurrency: number; maxQueue: number }): WorkQueue {
  const maxBackground = Math.max(1, options.concurrency - 1);
  let running = 0;
  let runningBackground = 0;
  const waiting: (() => void)[] = [];
  const waitingBackground: (() => void)[] = [];

  /** Starts waiting jobs while there are free slots: sign-ins first. */
  const dispatch = (): void => {
    while (running < options.concurrency) {
      const next = waiting.shift() ?? (runningBackground < maxBackground ? waitingBackground.shift() : undefined);
      if (!next) return;
      next();
    }
  };

  return {
    async run(job, { background = false } = {}) {
      const free = running < options.concurrency && (background ? runningBackground < maxBackground && waiting.length === 0 : true);
      if (!free) {
        if (!background && waiting.length >= options.maxQueue) {
          throw new AtriumError('temporarily_unavailable', 'Too many sign-ins at once, try again in a moment', 503, { headers: { 'Retry-After': '2' } });
        }
        // Counted as running by whoever starts it (dispatch), before it resumes.
        await new Promise<void>((resolve) =>
          (background ? waitingBackground : waiting).push(() => {
            running += 1;
            if (background) runningBackground += 1;
            resolve();
          }),
        );
      } else {
        running += 1;
        if (background) runningBackground += 1;
      }
      try {
        return await job();
      } finally {
        running -= 1;
        if (background) runningBackground -= 1;
        dispatch();
      }
    },
    depth: () => running + waiting.length + waitingBackground.length,
  };
}
