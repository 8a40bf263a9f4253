import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals secrets at rest (JWT signing keys, TOTP secrets, OAuth client secrets, webhook signing secrets)
 * with AES-256-GCM under a key
 * derived from PLINTH_ENCRYPTION_KEY. Without that setting secrets are stored in clear: an embedded
 * install must work with no configuration, and then the database file is the trust boundary anyway
 * (whoever reads it reads the data too). Sealed values are marked `enc:v1:` so both kinds can coexist
 * and a key set later seals new values while old ones still read.
 */
export class SecretBox {
  private readonly key?: Buffer;

  constructor(secret: string | undefined) {
    if (secret) this.key = Buffer.from(hkdfSync('sha256', secret, 'plinth', 'plinth secret box v1', 32));
  }

  get encrypting(): boolean {
    return this.key !== undefined;
  }

  seal(plain: string): string {
    if (!this.key) return plain;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `enc:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(stored: string): string {
    if (!stored.startsWith('enc:v1:')) return stored;
    if (!this.key) throw new Error('a sealed secret was found but PLINTH_ENCRYPTION_KEY is not set');
    const raw = Buffer.from(stored.slice(7), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
