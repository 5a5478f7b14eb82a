/** The argon2 work queue's two lanes, and the gate on concurrent imports. No store needed. */
import { describe, expect, it } from 'vitest';
import { createWorkQueue } from '../../src/directory/work-queue.js';
import { createImportGate } from '../../src/directory/import.js';

/** A job that runs until `finish()` is called, noting when it started. */
function gatedJob(name: string, started: string[]) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    job: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the work queue', () => {
  it('runs background jobs behind sign-ins, at most one slot fewer than all, and never refuses a sign-in for them', async () => {
    const queue = createWorkQueue({ concurrency: 2, maxQueue: 1 });
    const started: string[] = [];
    const background = Array.from({ length: 5 }, (_, i) => gatedJob(`import${i}`, started));
    const imports = background.map((b) => queue.run(b.job, { background: true }));
    await settle();
    // One slot of two: the other stays free for sign-ins.
    expect(started).toEqual(['import0']);
    expect(queue.depth()).toBe(5);

    const signIns = Array.from({ length: 2 }, (_, i) => gatedJob(`signin${i}`, started));
    const first = queue.run(signIns[0]!.job);
    const second = queue.run(signIns[1]!.job); // waits: the queue's one place, not taken by the imports
    await settle();
    expect(started).toEqual(['import0', 'signin0']);
    // The waiting room of sign-ins is full now: the next one is refused, whatever waits in the background.
    await expect(queue.run(async () => 'refused')).rejects.toMatchObject({ status: 503, headers: { 'Retry-After': '2' } });

    // A freed slot goes to the waiting sign-in first, then to the imports again.
    background[0]!.finish();
    await settle();
    expect(started).toEqual(['import0', 'signin0', 'signin1']);
    signIns[0]!.finish();
    await settle();
    expect(started).toEqual(['import0', 'signin0', 'signin1', 'import1']);
    signIns[1]!.finish();
    await settle();
    // Still one import at a time, with a sign-in slot free.
    expect(started).toEqual(['import0', 'signin0', 'signin1', 'import1']);
    for (const b of background.slice(1)) {
      b.finish();
      await settle();
    }
    expect(await Promise.all([first, second, ...imports])).toEqual(['signin0', 'signin1', 'import0', 'import1', 'import2', 'import3', 'import4']);
    expect(queue.depth()).toBe(0);
  });

  it('runs a background job in a queue of one slot', async () => {
    const queue = createWorkQueue({ concurrency: 1, maxQueue: 0 });
    expect(await queue.run(async () => 'done', { background: true })).toBe('done');
  });
});

describe('the import gate', () => {
  it('lets one import per tenant run, and a few in all', () => {
    const gate = createImportGate(2);
    const leaveA = gate.enter('a');
    expect(() => gate.enter('a')).toThrow(expect.objectContaining({ status: 409 }));
    const leaveB = gate.enter('b');
    expect(() => gate.enter('c')).toThrow(expect.objectContaining({ status: 503, headers: { 'Retry-After': '60' } }));
    leaveA();
    gate.enter('a');
    leaveB();
    expect(() => gate.enter('c')).not.toThrow();
  });
});
