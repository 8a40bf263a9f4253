import { describe, expect, it } from 'vitest';
import { SecretBox } from './secret-box.ts';

const KEY = 'a-test-encryption-key-of-32-chars-or-more';

describe('SecretBox', () => {
  it('seals with a key, opens its own sealed values and passes clear ones through', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('whsec_plain');
    expect(sealed).toMatch(/^enc:v1:/);
    expect(sealed).not.toContain('whsec_plain');
    expect(box.open(sealed)).toBe('whsec_plain');
    // Values stored before the key was set stay readable.
    expect(box.open('whsec_plain')).toBe('whsec_plain');
  });

  it('stores in clear without a key, and refuses a sealed value it cannot open', () => {
    const sealed = new SecretBox(KEY).seal('x');
    const clear = new SecretBox(undefined);
    expect(clear.seal('x')).toBe('x');
    expect(() => clear.open(sealed)).toThrow(/PLINTH_ENCRYPTION_KEY/);
    expect(() => new SecretBox('another-key-of-thirty-two-characters!!').open(sealed)).toThrow();
  });
});
