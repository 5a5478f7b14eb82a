import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { ALL_TOPOLOGIES, openTestStore, type TestStore } from '../helpers/stores.js';
import type { Store } from '../../src/store/store.js';

describe.each(ALL_TOPOLOGIES)('store conformance: %s driver', (driver) => {
  let t: TestStore;
  let store: Store;
  beforeAll(async () => {
    t = await openTestStore(driver);
    store = t.store;
  });
  afterAll(() => t.dispose());

  describe('strings', () => {
    it('sets, gets and deletes a value', async () => {
      expect(await store.set('s:a', 'one')).toBe(true);
      expect(await store.get('s:a')).toBe('one');
      expect(await store.del('s:a', 's:missing')).toBe(1);
      expect(await store.get('s:a')).toBeUndefined();
    });

    it('sets only when absent with ifAbsent', async () => {
      expect(await store.set('s:nx', 'first', { ifAbsent: true })).toBe(true);
      expect(await store.set('s:nx', 'second', { ifAbsent: true })).toBe(false);
      expect(await store.get('s:nx')).toBe('first');
    });

    it('sets only when absent or holding the given value with ifAbsentOr, with the new TTL', async () => {
      expect(await store.set('s:ao', 'mine', { ifAbsentOr: 'mine', ttl: 60 })).toBe(true);
      expect(await store.ttl('s:ao')).toBeGreaterThan(58);
      expect(await store.set('s:ao', 'mine', { ifAbsentOr: 'mine', ttl: 120 })).toBe(true);
      expect(await store.ttl('s:ao')).toBeGreaterThan(118);
      await store.set('s:ao', 'theirs');
      expect(await store.set('s:ao', 'mine', { ifAbsentOr: 'mine', ttl: 60 })).toBe(false);
      expect(await store.get('s:ao')).toBe('theirs');
      expect(await store.ttl('s:ao')).toBe(-1);
      expect(await store.set('s:ao', 'next', { ifAbsentOr: 'theirs' })).toBe(true);
      expect([await store.get('s:ao'), await store.ttl('s:ao')]).toEqual(['next', -1]);
      await store.set('s:ao-gone', 'theirs', { ttl: 0.1 });
      await sleep(150);
      expect(await store.set('s:ao-gone', 'mine', { ifAbsentOr: 'mine' })).toBe(true);
      expect(await store.get('s:ao-gone')).toBe('mine');
      await expect(store.set('s:ao', 'x', { ifAbsent: true, ifAbsentOr: 'x' })).rejects.toThrow(/exclude/);
    });

    it('sets only when present (and not expired) with ifPresent, with the new TTL', async () => {
      expect(await store.set('s:xx', 'first', { ifPresent: true })).toBe(false);
      expect(await store.get('s:xx')).toBeUndefined();
      await store.set('s:xx', 'first');
      expect(await store.set('s:xx', 'second', { ifPresent: true, ttl: 60 })).toBe(true);
      expect(await store.get('s:xx')).toBe('second');
      expect(await store.ttl('s:xx')).toBeGreaterThan(58);
      await store.set('s:xx-gone', 'v', { ttl: 0.1 });
      await sleep(200);
      expect(await store.set('s:xx-gone', 'back', { ifPresent: true, ttl: 60 })).toBe(false);
      expect(await store.get('s:xx-gone')).toBeUndefined();
      await store.del('s:xx');
      expect(await store.set('s:xx', 'third', { ifPresent: true })).toBe(false);
      expect(await store.get('s:xx')).toBeUndefined();
    });

    it('reads several values in order', async () => {
      await store.set('s:m1', '1');
      await store.set('s:m3', '3');
      expect(await store.getMany(['s:m1', 's:m2', 's:m3'])).toEqual(['1', undefined, '3']);
    });

    it('reads and deletes many keys at once, whatever node or slot holds them', async () => {
      const keys = Array.from({ length: 60 }, (_, i) => `many:${i}`);
      await Promise.all(keys.filter((_, i) => i % 3 !== 0).map((key) => store.set(key, key)));
      expect(await store.getMany(keys)).toEqual(keys.map((key, i) => (i % 3 === 0 ? undefined : key)));
      expect(await store.del(...keys)).toBe(40);
      expect(await store.getMany(keys)).toEqual(keys.map(() => undefined));
    });

    it('deletes only while the value still matches', async () => {
      await store.set('s:cad', 'mine');
      expect(await store.deleteIfEquals('s:cad', 'theirs')).toBe(false);
      expect(await store.get('s:cad')).toBe('mine');
      expect(await store.deleteIfEquals('s:cad', 'mine')).toBe(true);
      expect(await store.get('s:cad')).toBeUndefined();
    });

    it('replaces a value only while it still matches, keeping its TTL', async () => {
      await store.set('s:cas', 'mine', { ttl: 100 });
      expect(await store.replaceIfEquals('s:cas', 'theirs', 'new')).toBe(false);
      expect(await store.get('s:cas')).toBe('mine');
      expect(await store.replaceIfEquals('s:cas', 'mine', 'new')).toBe(true);
      expect(await store.get('s:cas')).toBe('new');
      expect(await store.ttl('s:cas')).toBeGreaterThan(90);
      expect(await store.replaceIfEquals('s:absent', '', 'new')).toBe(false);
      expect(await store.get('s:absent')).toBeUndefined();
      await store.set('s:short', 'v', { ttl: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await store.replaceIfEquals('s:short', 'v', 'w')).toBe(false);
      expect(await store.get('s:short')).toBeUndefined();
    });

    it('replaces the TTL of a value that is set again', async () => {
      await store.set('s:ttl', 'v', { ttl: 100 });
      await store.set('s:ttl', 'w');
      expect(await store.ttl('s:ttl')).toBe(-1);
    });
  });

  describe('expiry', () => {
    it('hides an expired value at once, of every type', async () => {
      await store.set('e:s', 'v', { ttl: 0.15 });
      await store.hset('e:h', { f: 'v' }, { ttl: 0.15 });
      await store.sadd('e:set', ['m'], { ttl: 0.15 });
      expect(await store.get('e:s')).toBe('v');
      await sleep(250);
      expect(await store.get('e:s')).toBeUndefined();
      expect(await store.hgetall('e:h')).toBeUndefined();
      expect(await store.smembers('e:set')).toEqual([]);
      expect(await store.ttl('e:s')).toBe(-2);
      expect(await store.set('e:s', 'new', { ifAbsent: true })).toBe(true);
    });

    it('reports the remaining TTL and sets a new one', async () => {
      await store.set('e:t', 'v', { ttl: 60 });
      expect(await store.ttl('e:t')).toBeGreaterThan(58);
      expect(await store.expire('e:t', 3600)).toBe(true);
      expect(await store.ttl('e:t')).toBeGreaterThan(3590);
      expect(await store.expire('e:none', 10)).toBe(false);
    });
  });

  describe('counters', () => {
    it('counts atomically under concurrency', async () => {
      await Promise.all(Array.from({ length: 100 }, () => store.incr('c:n')));
      expect(await store.get('c:n')).toBe('100');
      expect(await store.incr('c:n', { by: -10 })).toBe(90);
    });

    it('applies the TTL only when the counter is created (a fixed window)', async () => {
      await store.incr('c:w', { ttl: 100 });
      await store.expire('c:w', 5);
      await store.incr('c:w', { ttl: 100 });
      expect(await store.ttl('c:w')).toBeLessThanOrEqual(5);
    });

    it('deletes a count taken back to zero or below in the same step (deleteAtZero), and keeps one above', async () => {
      await store.incr('c:z', { ttl: 100 });
      await store.incr('c:z', { ttl: 100 });
      expect(await store.incr('c:z', { by: -1, ttl: 100, deleteAtZero: true })).toBe(1);
      expect(await store.get('c:z')).toBe('1');
      expect(await store.ttl('c:z')).toBeGreaterThan(90);
      expect(await store.incr('c:z', { by: -1, ttl: 100, deleteAtZero: true })).toBe(0);
      expect(await store.ttl('c:z')).toBe(-2);
      // A count whose window ended meanwhile: taken back below zero, nothing is left either.
      expect(await store.incr('c:gone', { by: -1, ttl: 100, deleteAtZero: true })).toBe(-1);
      expect(await store.ttl('c:gone')).toBe(-2);
    });

    it('starts over after the window expires', async () => {
      await store.incr('c:x', { ttl: 0.1 });
      await store.incr('c:x', { ttl: 0.1 });
      await sleep(200);
      expect(await store.incr('c:x', { ttl: 0.1 })).toBe(1);
    });
  });

  describe('hashes', () => {
    it('merges fields and keeps the TTL', async () => {
      await store.hset('h:a', { a: '1', b: '2' }, { ttl: 100 });
      await store.hset('h:a', { b: '3', c: '4' });
      expect(await store.hgetall('h:a')).toEqual({ a: '1', b: '3', c: '4' });
      expect(await store.hget('h:a', 'c')).toBe('4');
      expect(await store.ttl('h:a')).toBeGreaterThan(90);
    });

    it('replaces the whole hash with replace', async () => {
      await store.hset('h:r', { a: '1', consumed: 'x' });
      await store.hset('h:r', { b: '2' }, { replace: true, ttl: 50 });
      expect(await store.hgetall('h:r')).toEqual({ b: '2' });
      expect(await store.ttl('h:r')).toBeGreaterThan(40);
    });

    it('extends but never shortens the TTL of a hash with extend', async () => {
      await store.hset('h:t', { a: '' }, { ttl: 100, extend: true });
      await store.hset('h:t', { b: '' }, { ttl: 10, extend: true });
      expect(await store.ttl('h:t')).toBeGreaterThan(90);
      await store.hset('h:t', { c: '' }, { ttl: 1000, extend: true });
      expect(await store.ttl('h:t')).toBeGreaterThan(990);
      await store.hset('h:t', { d: '' }, { extend: true });
      expect(await store.ttl('h:t')).toBe(-1);
      expect(Object.keys((await store.hgetall('h:t')) ?? {}).sort()).toEqual(['a', 'b', 'c', 'd']);
    });

    it('removes fields, and the key with its last field', async () => {
      await store.hset('h:d', { a: '1', b: '2' });
      expect(await store.hdel('h:d', 'a', 'zz')).toBe(1);
      expect(await store.hdel('h:d', 'b')).toBe(1);
      expect(await store.hgetall('h:d')).toBeUndefined();
      expect(await store.ttl('h:d')).toBe(-2);
    });
  });

  describe('records in a hash', () => {
    const record = (expires: number, body = '{}'): string => `0000000000${String(expires).padStart(10, '0')}${body}`;
    const nowS = (): number => Math.floor(Date.now() / 1000);

    it('reads several fields at once, undefined where missing', async () => {
      await store.hset('r:m', { a: '1', b: '2' });
      expect(await store.hgetMany('r:m', ['b', 'zz', 'a'])).toEqual(['2', undefined, '1']);
      expect(await store.hgetMany('r:none', ['a', 'b'])).toEqual([undefined, undefined]);
    });

    it('writes only while the required field is there', async () => {
      expect(await store.hsetRecords('r:req', { t: record(0) }, { requires: 'G', ttl: 60, now: nowS() })).toBe(false);
      expect(await store.ttl('r:req')).toBe(-2);
      expect(await store.hsetRecords('r:req', { G: record(0) }, { ttl: 60, now: nowS() })).toBe(true);
      expect(await store.hsetRecords('r:req', { t: record(0) }, { requires: 'G', ttl: 60, now: nowS() })).toBe(true);
      expect(Object.keys((await store.hgetall('r:req')) ?? {}).sort()).toEqual(['G', 't']);
    });

    it('drops members whose expiry has passed, and extends but never shortens the TTL', async () => {
      const now = nowS();
      await store.hsetRecords('r:p', { old: record(now - 1), keep: record(now + 500), forever: record(0), plain: '' }, { ttl: 100, now });
      expect(await store.ttl('r:p')).toBeGreaterThan(90);
      await store.hsetRecords('r:p', { next: record(now + 10) }, { ttl: 10, now });
      expect(Object.keys((await store.hgetall('r:p')) ?? {}).sort()).toEqual(['forever', 'keep', 'next', 'plain']);
      expect(await store.ttl('r:p')).toBeGreaterThan(90);
      await store.hsetRecords('r:p', { later: record(now + 1000) }, { ttl: 1000, now: now + 20 });
      expect(Object.keys((await store.hgetall('r:p')) ?? {}).sort()).toEqual(['forever', 'keep', 'later', 'plain']);
      expect(await store.ttl('r:p')).toBeGreaterThan(990);
      await store.hsetRecords('r:p', { last: record(0) }, { now });
      expect(await store.ttl('r:p')).toBe(-1);
    });

    it('writes only when the claim of another member succeeds, in the same step', async () => {
      const now = nowS();
      await store.hset('r:claim', { G: record(0), old: record(now + 60, '{"long":"payload"}') });
      const claim = { field: 'old', stamp: '1234567890', keep: 10, rest: '{}' };
      expect(await store.hsetRecords('r:claim', { next: record(now + 60) }, { requires: 'G', ttl: 60, now, claim })).toBe(true);
      expect(await store.hget('r:claim', 'old')).toBe(`1234567890${String(now + 60).padStart(10, '0')}{}`);
      expect(await store.hsetRecords('r:claim', { again: record(now + 60) }, { requires: 'G', ttl: 60, now, claim })).toBe(false);
      expect(await store.hget('r:claim', 'again')).toBeUndefined();
      expect(await store.hsetRecords('r:claim', { ghost: record(now + 60) }, { ttl: 60, now, claim: { ...claim, field: 'missing' } })).toBe(false);
    });

    it('keeps at most the cap of members with its prefix: the earliest to expire go (the same expiry: by name), never one just written', async () => {
      const now = nowS();
      const fields = async () => Object.keys((await store.hgetall('r:cap')) ?? {}).sort();
      // Names in the opposite order of their expiries.
      await store.hset('r:cap', { G: record(0), 'RT:x': record(now + 5), 'AT:a': record(now + 300), 'AT:b': record(now + 200), 'AT:c': record(now + 100) });
      const cap = { prefix: 'AT:', max: 3 };
      // A write that adds none of a cap's members leaves them alone, even past it.
      expect(await store.hsetRecords('r:cap', { 'RT:y': record(now + 50) }, { requires: 'G', ttl: 600, now, caps: [{ prefix: 'AT:', max: 1 }] })).toBe(true);
      expect(await fields()).toEqual(['AT:a', 'AT:b', 'AT:c', 'G', 'RT:x', 'RT:y']);
      // One more: the one expiring first goes (other prefixes are not counted, whatever their expiry).
      expect(await store.hsetRecords('r:cap', { 'AT:d': record(now + 400) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      expect(await fields()).toEqual(['AT:a', 'AT:b', 'AT:d', 'G', 'RT:x', 'RT:y']);
      // New members expiring before the others are still kept: the others make room.
      expect(await store.hsetRecords('r:cap', { 'AT:e': record(now + 10), 'AT:f': record(0) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      expect(await fields()).toEqual(['AT:d', 'AT:e', 'AT:f', 'G', 'RT:x', 'RT:y']);
      // Trimmed below the maximum once it is passed; the same expiry goes by name, none goes last.
      await store.hset('r:cap', { 'AT:m': record(now + 700), 'AT:k': record(now + 700), 'AT:l': record(now + 700) });
      expect(await store.hsetRecords('r:cap', { 'AT:z': record(now + 800) }, { requires: 'G', ttl: 900, now, caps: [{ prefix: 'AT:', max: 4, trimTo: 3 }] })).toBe(true);
      expect(await fields()).toEqual(['AT:f', 'AT:m', 'AT:z', 'G', 'RT:x', 'RT:y']);
      // Several caps at once, each counting its own prefix.
      const caps = [{ prefix: 'AT:', max: 1 }, { prefix: 'RT:', max: 2 }];
      expect(await store.hsetRecords('r:cap', { 'RT:w': record(now + 20), 'AT:y': record(now + 900) }, { requires: 'G', ttl: 900, now, caps })).toBe(true);
      expect(await fields()).toEqual(['AT:y', 'G', 'RT:w', 'RT:y']);
    });

    it('caps along with a claim and a drop: the claimed member stays, the dropped one is gone', async () => {
      const now = nowS();
      // The claimed member expires first: the cap would take it first, were it not protected.
      await store.hset('r:capdc', { G: record(0), 'RT:old': record(now + 50, '{"long":"payload"}'), 'AC:code': record(now + 60), 'RT:b': record(now + 100), 'RT:a': record(now + 200) });
      const claim = { field: 'RT:old', stamp: '1234567890', keep: 10, rest: '{}' };
      const options = { requires: 'G', ttl: 1000, now, claim, drop: ['AC:code'], caps: [{ prefix: 'RT:', max: 2 }] };
      expect(await store.hsetRecords('r:capdc', { 'RT:new': record(now + 950) }, options)).toBe(true);
      expect(await store.hgetall('r:capdc')).toEqual({ G: record(0), 'RT:old': `1234567890${String(now + 50).padStart(10, '0')}{}`, 'RT:new': record(now + 950) });
    });

    it('marks the last member a cap trimmed away (its expiry and name), and keeps the mark when a later trim goes less far', async () => {
      const now = nowS();
      const cap = { prefix: 'RT:', max: 2, trimTo: 1, mark: 'RX' };
      const mark = (expiry: number, name: string) => record(expiry, `{"n":"${name}"}`);
      await store.hset('r:mark', { G: record(0), 'RT:z': record(now + 100), 'RT:y': record(now + 300) });
      expect(await store.hsetRecords('r:mark', { 'RT:x': record(now + 200) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      // Trimmed to one: z (100) and y (300) went, the member this call wrote stays; the mark says y.
      expect(await store.hgetall('r:mark')).toEqual({ G: record(0), 'RT:x': record(now + 200), RX: mark(now + 300, 'RT:y') });
      await store.hset('r:mark', { 'RT:w': record(now + 50) });
      expect(await store.hsetRecords('r:mark', { 'RT:v': record(now + 400) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      // w (50) and x (200) trimmed: the mark keeps y, later than both.
      expect(await store.hgetall('r:mark')).toEqual({ G: record(0), 'RT:v': record(now + 400), RX: mark(now + 300, 'RT:y') });
    });

    it('trims members of the same expiry by name, and marks the last one trimmed; a mark without a name comes after every name of its expiry', async () => {
      const now = nowS();
      const cap = { prefix: 'RT:', max: 3, trimTo: 2, mark: 'RX' };
      const mark = (expiry: number, name: string) => record(expiry, `{"n":"${name}"}`);
      await store.hset('r:same', { G: record(0), 'RT:b': record(now + 100), 'RT:c': record(now + 100), 'RT:a': record(now + 100) });
      expect(await store.hsetRecords('r:same', { 'RT:d': record(now + 100) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      expect(await store.hgetall('r:same')).toEqual({ G: record(0), 'RT:c': record(now + 100), 'RT:d': record(now + 100), RX: mark(now + 100, 'RT:b') });
      // An older mark that says only an expiry stays later than the names of that expiry.
      await store.hset('r:same', { RX: record(now + 100) });
      await store.hset('r:same', { 'RT:e': record(now + 100) });
      expect(await store.hsetRecords('r:same', { 'RT:f': record(now + 100) }, { requires: 'G', ttl: 600, now, caps: [cap] })).toBe(true);
      expect((await store.hgetall('r:same'))?.RX).toBe(mark(now + 100, '~'));
    });

    it('refuses a cap that could empty a hash, or that trims to more than its maximum', async () => {
      for (const cap of [{ prefix: '', max: 1 }, { prefix: 'AT:', max: 0 }, { prefix: 'AT:', max: 1.5 }, { prefix: 'AT:', max: 2, trimTo: 3 }, { prefix: 'AT:', max: 2, mark: 'AT:mark' }]) {
        await expect(store.hsetRecords('r:capbad', { 'AT:x': record(0) }, { now: nowS(), caps: [cap] })).rejects.toThrow(/invalid hash cap/);
      }
      expect(await store.hgetall('r:capbad')).toBeUndefined();
    });

    it('drops the named members in the same step as a write, and only when the write happens', async () => {
      const now = nowS();
      await store.hset('r:drop', { G: record(0), 'AC:a': record(now + 60), 'AC:b': record(now + 60) });
      expect(await store.hsetRecords('r:drop', { t: record(now + 60) }, { requires: 'G', ttl: 60, now, drop: ['AC:a'] })).toBe(true);
      expect(Object.keys((await store.hgetall('r:drop')) ?? {}).sort()).toEqual(['AC:b', 'G', 't']);
      expect(await store.hsetRecords('r:drop', { u: record(now + 60) }, { requires: 'missing', ttl: 60, now, drop: ['AC:b'] })).toBe(false);
      expect(Object.keys((await store.hgetall('r:drop')) ?? {}).sort()).toEqual(['AC:b', 'G', 't']);
    });

    it('writes only while the members to drop are there, and then claims nothing either', async () => {
      const now = nowS();
      await store.hset('r:gone', { G: record(0), old: record(now + 60), 'AC:b': record(now + 60) });
      const claim = { field: 'old', stamp: '1234567890', keep: 10, rest: '{}' };
      expect(await store.hsetRecords('r:gone', { t: record(now + 60) }, { requires: 'G', ttl: 60, now, claim, drop: ['AC:b', 'AC:a'] })).toBe(false);
      expect(await store.hgetall('r:gone')).toEqual({ G: record(0), old: record(now + 60), 'AC:b': record(now + 60) });
      expect(await store.hsetRecords('r:gone', { t: record(now + 60) }, { requires: 'G', ttl: 60, now, claim, drop: ['AC:b'] })).toBe(true);
      expect(Object.keys((await store.hgetall('r:gone')) ?? {}).sort()).toEqual(['G', 'old', 't']);
    });

    it('takes a member to drop as there while it is, even when its record has just expired', async () => {
      const now = nowS();
      // A code redeemed in its last second, whose index entry expires as the tokens are written.
      await store.hset('r:edge', { G: record(0), 'AC:c': record(now) });
      expect(await store.hsetRecords('r:edge', { t: record(now + 60) }, { requires: 'G', ttl: 60, now, drop: ['AC:c'] })).toBe(true);
      expect(Object.keys((await store.hgetall('r:edge')) ?? {}).sort()).toEqual(['G', 't']);
    });

    it('never leaves a hash behind when pruning emptied a big one and the write is refused', async () => {
      const now = nowS();
      const padding = `{"pad":"${'x'.repeat(80)}"}`;
      for (let round = 0; round < 60; round++) {
        const key = `r:gone${round}`;
        const fields: Record<string, string> = { G: record(now - 10, padding) };
        for (let i = 0; i < 200; i++) fields[`old:${i}`] = record(now - 10, padding);
        await store.hset(key, fields, { ttl: 600 });
        // A sparse table of expired members: one scan step may empty it before reaching its end.
        const names = Object.keys(fields).filter((f) => f !== 'G');
        const keep = 30 + (round % 12);
        await store.hdel(key, ...names.filter((_, i) => (i * 7919 + round) % names.length >= keep));
        expect(await store.hsetRecords(key, { t: record(now + 60, padding) }, { requires: 'G', ttl: 60, now })).toBe(false);
        // Gone, or still there with its TTL: never a key without one.
        expect(await store.ttl(key)).not.toBe(-1);
        await store.del(key);
      }
    });

    it('starts a new TTL when pruning emptied the hash', async () => {
      const now = nowS();
      await store.hsetRecords('r:e', { gone: record(now + 1) }, { now });
      expect(await store.ttl('r:e')).toBe(-1);
      await store.hsetRecords('r:e', { fresh: record(now + 60) }, { ttl: 60, now: now + 5 });
      expect(await store.hgetall('r:e')).toEqual({ fresh: record(now + 60) });
      expect(await store.ttl('r:e')).toBeGreaterThan(50);
    });

    it('prunes a big hash a bounded step per write until every expired member is gone', async () => {
      const now = nowS();
      const padding = `{"pad":"${'x'.repeat(80)}"}`; // longer than 64 bytes: a hash table on Redis
      const expired: Record<string, string> = {};
      for (let i = 0; i < 300; i++) expired[`old:${i}`] = record(now - 10, padding);
      await store.hset('r:big', { ...expired, live: record(now + 600, padding), G: record(0, padding) }, { ttl: 600 });
      await store.hsetRecords('r:big', { 'new:0': record(now + 600, padding) }, { ttl: 600, requires: 'G', now });
      const afterOne = Object.keys((await store.hgetall('r:big')) ?? {}).filter((f) => f.startsWith('old:')).length;
      // Redis looks at a bounded number of members per write; SQLite drops them all in one statement.
      if (driver === 'sqlite') expect(afterOne).toBe(0);
      else expect(afterOne).toBeGreaterThan(200);
      for (let i = 1; i < 40; i++) await store.hsetRecords('r:big', { [`new:${i}`]: record(now + 600, padding) }, { ttl: 600, requires: 'G', now });
      const left = Object.keys((await store.hgetall('r:big')) ?? {}).filter((f) => f !== '#');
      expect(left.filter((f) => f.startsWith('old:'))).toEqual([]);
      expect(left).toHaveLength(42);
    });

    it('lets exactly one of many parallel callers consume a field, keeping the rest and the TTL', async () => {
      await store.hset('r:c', { code: '000{"a":1}', other: 'x' }, { ttl: 60 });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.hconsume('r:c', 'code', String(100 + i))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.hget('r:c', 'code')).toBe(`${100 + results.indexOf(true)}{"a":1}`);
      expect(await store.hget('r:c', 'other')).toBe('x');
      expect(await store.ttl('r:c')).toBeGreaterThan(50);
    });

    it('cuts a consumed field to its next characters and a new rest when asked', async () => {
      await store.hset('r:cut', { code: '000123{"long":"payload"}' });
      expect(await store.hconsume('r:cut', 'code', '777', { keep: 3, rest: '{}' })).toBe(true);
      expect(await store.hget('r:cut', 'code')).toBe('777123{}');
      expect(await store.hconsume('r:cut', 'code', '888', { keep: 3, rest: '{}' })).toBe(false);
    });

    it('never creates a field or hash when consuming a missing one', async () => {
      expect(await store.hconsume('r:none', 'f', '1')).toBe(false);
      expect(await store.ttl('r:none')).toBe(-2);
      await store.hset('r:c2', { a: '0{}' });
      expect(await store.hconsume('r:c2', 'missing', '1')).toBe(false);
      expect(await store.hgetall('r:c2')).toEqual({ a: '0{}' });
    });
  });

  describe('consume', () => {
    it('lets exactly one of many parallel callers consume, keeping the rest of the value', async () => {
      await store.set('k:code', '000{"a":1}', { ttl: 60 });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.consume('k:code', String(100 + i))));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = 100 + results.indexOf(true);
      expect(await store.get('k:code')).toBe(`${winner}{"a":1}`);
    });

    it('never creates a record for a missing or expired key', async () => {
      expect(await store.consume('k:missing', '1')).toBe(false);
      expect(await store.ttl('k:missing')).toBe(-2);
      await store.set('k:old', '0{}', { ttl: 0.1 });
      await sleep(200);
      expect(await store.consume('k:old', '1')).toBe(false);
      expect(await store.get('k:old')).toBeUndefined();
    });

    it('refuses a value whose header is not all zeros, or too short', async () => {
      await store.set('k:used', '10{}');
      expect(await store.consume('k:used', '22')).toBe(false);
      expect(await store.get('k:used')).toBe('10{}');
      await store.set('k:short', '0');
      expect(await store.consume('k:short', '11')).toBe(false);
      expect(await store.get('k:short')).toBe('0');
    });

    it('keeps the TTL of the consumed record', async () => {
      await store.set('k:ttl', '0{}', { ttl: 30 });
      expect(await store.consume('k:ttl', '1')).toBe(true);
      const ttl = await store.ttl('k:ttl');
      expect(ttl).toBeGreaterThan(25);
      expect(ttl).toBeLessThanOrEqual(30);
    });
  });

  describe('sets', () => {
    it('adds and writes many members and fields in one call (more than Lua unpacks at once)', async () => {
      const many = Array.from({ length: 10_001 }, (_, i) => `m${i}`);
      await store.sadd('set:many', many, { ttl: 100 });
      expect((await store.smembers('set:many')).length).toBe(10_001);
      expect(await store.sismember('set:many', 'm10000')).toBe(true);
      const fields = Object.fromEntries(many.map((m) => [m, 'v']));
      await store.hset('h:many', fields, { ttl: 100 });
      expect(Object.keys((await store.hgetall('h:many'))!).length).toBe(10_001);
      expect(await store.hget('h:many', 'm10000')).toBe('v');
      const records = Object.fromEntries(many.map((m) => [m, `${'0'.repeat(20)}{}`])); // never expiring
      expect(await store.hsetRecords('h:records', records, { ttl: 100, now: Math.floor(Date.now() / 1000) })).toBe(true);
      expect(await store.hget('h:records', 'm10000')).toBe(`${'0'.repeat(20)}{}`);
      expect(await store.ttl('h:records')).toBeGreaterThan(90);
    });

    it('adds, lists, tests and removes members without duplicates', async () => {
      await store.sadd('set:a', ['x', 'y']);
      await store.sadd('set:a', ['y', 'z']);
      expect((await store.smembers('set:a')).sort()).toEqual(['x', 'y', 'z']);
      expect(await store.sismember('set:a', 'y')).toBe(true);
      expect(await store.srem('set:a', 'y', 'nope')).toBe(1);
      expect(await store.sismember('set:a', 'y')).toBe(false);
      await store.srem('set:a', 'x', 'z');
      expect(await store.ttl('set:a')).toBe(-2);
    });

    it('extends but never shortens the TTL of a set', async () => {
      await store.sadd('set:t', ['a'], { ttl: 100 });
      await store.sadd('set:t', ['b'], { ttl: 10 });
      expect(await store.ttl('set:t')).toBeGreaterThan(90);
      await store.sadd('set:t', ['c'], { ttl: 1000 });
      expect(await store.ttl('set:t')).toBeGreaterThan(990);
      await store.sadd('set:t', ['d']);
      expect(await store.ttl('set:t')).toBe(-1);
    });
  });

  it('refuses to use a key as another type', async () => {
    await store.set('w:s', 'v');
    await expect(store.hgetall('w:s')).rejects.toThrow(/WRONGTYPE/);
    await expect(store.sadd('w:s', ['m'])).rejects.toThrow(/WRONGTYPE/);
  });

  it('answers ping while reachable', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe('sqlite driver: background purge', () => {
  it('removes expired rows without being read', async () => {
    const t = await openTestStore('sqlite');
    try {
      await t.store.set('p:a', 'v', { ttl: 0.05 });
      await sleep(300);
      // A second connection sees the file as it is on disk: the row itself is gone.
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(`${(t.config as { dataDir: string }).dataDir}/atrium.sqlite`, { readonly: true });
      const row = db.prepare("SELECT COUNT(*) AS n FROM entries WHERE key = 'p:a'").get() as { n: number };
      db.close();
      expect(row.n).toBe(0);
    } finally {
      await t.dispose();
    }
  });

  it('purges many expired rows in chunks, letting other work run in between', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'atrium-purge-'));
    const store = createSqliteStore({ dataDir, purgeIntervalMs: 3_600_000 });
    try {
      for (let i = 0; i < 5000; i++) await store.set(`x:${i}`, 'v', { ttl: 0.01 });
      await store.set('x:kept', 'v', { ttl: 3600 });
      await sleep(50);
      let ticks = 0;
      let purging = true;
      const spin = () => {
        ticks += 1;
        if (purging) setImmediate(spin);
      };
      setImmediate(spin);
      await store.purge();
      purging = false;
      // 5000 rows are 10 chunks of 500: the event loop turned between them.
      expect(ticks).toBeGreaterThanOrEqual(9);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(dataDir, 'atrium.sqlite'), { readonly: true });
      const left = db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number };
      db.close();
      expect(left.n).toBe(1);
      expect(await store.get('x:kept')).toBe('v');
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
