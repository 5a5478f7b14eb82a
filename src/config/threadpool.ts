/**
 * argon2id runs on libuv's thread pool, which has 4 threads unless UV_THREADPOOL_SIZE says
 * otherwise, and is sized once, at its first use. Imported first by the entry points, this makes
 * room for the password hashing concurrency (`passwordHashing.concurrency`, by default one more
 * than the cores) plus two threads for everything else. An explicit UV_THREADPOOL_SIZE wins.
 */
import { availableParallelism } from 'node:os';

process.env.UV_THREADPOOL_SIZE ??= String(Math.min(1024, Math.max(4, availableParallelism() + 3)));
