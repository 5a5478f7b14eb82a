import { describe, expect, it } from 'vitest';
import { SEAL_LENGTH, createRefreshSeal } from '../../src/oidc/refresh-seal.js';

describe('refresh token seals', () => {
  const key = 'a cookie key of at least thirty-two characters';
  const seal = createRefreshSeal([key]);
  const exp = 1_900_000_000;
  const random = 'Qm9vdHN0cmFwIHJhbmRvbSBwYXJ0IG9mIGFuIGlk';
  const n = `${random}${seal.seal('grant1', random, exp)}`;

  it('gives back the expiry it sealed, for the grant it was sealed for', () => {
    expect(n).toHaveLength(random.length + SEAL_LENGTH);
    expect(n).toMatch(/^[\w-]+$/); // no dot: ids are {grantId}.{n}
    expect(seal.open('grant1', n)).toBe(exp);
    expect(seal.open('grant2', n)).toBeUndefined();
  });

  it('refuses a seal with any one character changed, and anything too short to hold one', () => {
    for (let i = 0; i < n.length; i += 1) {
      for (const c of ['A', 'z', '-', '_', '=', '.']) {
        if (n[i] === c) continue;
        const changed = `${n.slice(0, i)}${c}${n.slice(i + 1)}`;
        expect(seal.open('grant1', changed), `position ${i} → ${c}`).toBeUndefined();
      }
    }
    expect(seal.open('grant1', n.slice(-SEAL_LENGTH))).toBeUndefined();
    expect(seal.open('grant1', '')).toBeUndefined();
  });

  it('opens seals of every key it holds (rotation), and makes new ones with the first', () => {
    const rotated = createRefreshSeal(['the new cookie key, thirty-two characters or more', key]);
    expect(rotated.open('grant1', n)).toBe(exp);
    const fresh = `${random}${rotated.seal('grant1', random, exp)}`;
    expect(rotated.open('grant1', fresh)).toBe(exp);
    expect(seal.open('grant1', fresh)).toBeUndefined();
  });

  it('refuses to seal an expiry it cannot carry', () => {
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) expect(() => seal.seal('grant1', random, bad)).toThrow(RangeError);
    expect(() => createRefreshSeal([])).toThrow();
  });
});
