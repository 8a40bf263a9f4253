import { randomBytes } from 'node:crypto';
import { desc, gt, isNull, or, sql } from 'drizzle-orm';
import { errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { Kernel } from '../../../core/kernel.ts';
import { signingKeys } from '../tables.ts';

/** The only algorithm tokens are signed or accepted with: `none`, HS256 and any other are refused. */
export const JWT_ALG = 'ES256';
const DAY_MS = 86_400_000;
/** Longest access-token lifetime a tenant may configure; a retired key verifies this long after retirement. */
export const MAX_ACCESS_TTL_SECONDS = 86_400;
const RELOAD_MIN_INTERVAL_MS = 5_000;
/** Keys are re-read this often anyway, so another process's rotation or expiry reaches every process. */
const RELOAD_EVERY_MS = 5 * 60_000;
const ROTATION_LOCK = 7_304_211_931;

interface LoadedKey {
  kid: string;
  publicKey: CryptoKey;
  publicJwk: JWK;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

/**
 * The deployment's JWT keys: ES256, one active key for signing and every unexpired one for verifying,
 * chosen by the token's `kid`. Keys live in the database so that every process of a deployment shares
 * them and an embedded install needs no configuration; the private half is sealed with
 * PLINTH_ENCRYPTION_KEY when it is set. A process that meets a `kid` it does not know reloads the table
 * (at most every few seconds), which is how a key rotated by another process reaches it.
 */
export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private signer?: { kid: string; privateKey: CryptoKey; createdAt: Date };
  private loading?: Promise<void>;
  private lastLoad = 0;

  constructor(private readonly kernel: Kernel) {}

  get issuer(): string {
    return this.kernel.config.JWT_ISSUER ?? this.kernel.config.PUBLIC_URL ?? 'plinth';
  }

  private async load(): Promise<void> {
    const now = new Date();
    const rows = await this.kernel.db.system
      .select()
      .from(signingKeys)
      .where(or(isNull(signingKeys.expiresAt), gt(signingKeys.expiresAt, now)))
      .orderBy(desc(signingKeys.createdAt));
    const keys = new Map<string, LoadedKey>();
    let signer: typeof this.signer;
    for (const row of rows) {
      keys.set(row.kid, {
        kid: row.kid,
        publicKey: (await importJWK(row.publicJwk as JWK, JWT_ALG)) as CryptoKey,
        publicJwk: row.publicJwk as JWK,
        createdAt: row.createdAt,
        retiredAt: row.retiredAt,
        expiresAt: row.expiresAt,
      });
      if (!signer && !row.retiredAt) {
        const jwk = JSON.parse(this.kernel.secrets.open(row.privateJwk)) as JWK;
        signer = { kid: row.kid, privateKey: (await importJWK(jwk, JWT_ALG)) as CryptoKey, createdAt: row.createdAt };
      }
    }
    this.keys = keys;
    this.signer = signer;
    this.lastLoad = Date.now();
  }

  /** Reads the key table again (also done every few minutes, and when an unknown kid shows up). */
  reload(): Promise<void> {
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /**
   * Makes a new signing key and retires the current ones (they keep verifying until the tokens they
   * signed have expired). Serialised across processes by an advisory lock; a process that finds a
   * fresh key made by another while it waited uses that one.
   */
  async rotate(options: { ifOlderThan?: Date } = {}): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(JWT_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const kid = `key-${new Date().toISOString().slice(0, 10)}-${randomBytes(6).toString('hex')}`;
    const made = await this.kernel.db.system.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${ROTATION_LOCK})`);
      const [active] = await tx.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(desc(signingKeys.createdAt)).limit(1);
      if (active && options.ifOlderThan && active.createdAt > options.ifOlderThan) return active.kid;
      const now = new Date();
      await tx
        .update(signingKeys)
        .set({ retiredAt: now, expiresAt: new Date(now.getTime() + (MAX_ACCESS_TTL_SECONDS + 300) * 1000) })
        .where(isNull(signingKeys.retiredAt));
      await tx.insert(signingKeys).values({
        kid,
        alg: JWT_ALG,
        publicJwk: { ...publicJwk, kid, alg: JWT_ALG, use: 'sig' } as Record<string, unknown>,
        privateJwk: this.kernel.secrets.seal(JSON.stringify(privateJwk)),
        encrypted: this.kernel.secrets.encrypting,
      });
      return kid;
    });
    await this.load();
    return made;
  }

  /**
   * Loads the keys, and makes a new one when there is none or the current one is due for rotation.
   * Call it before opening a transaction that will sign: the embedded database has one connection, so
   * reading the key table from inside a transaction would wait on that transaction forever. Once keys
   * are loaded and fresh this is a clock check.
   */
  async ready(): Promise<void> {
    if (!this.signer) await this.reload();
    const rotateBefore = new Date(Date.now() - this.kernel.config.JWT_KEY_ROTATION_DAYS * DAY_MS);
    if (!this.signer || this.signer.createdAt < rotateBefore) await this.rotate({ ifOlderThan: rotateBefore });
  }

  /** Signs with the current key; never touches the database (see ready()). */
  async sign(claims: JWTPayload & { sub: string }, audience: string, ttlSeconds: number): Promise<string> {
    const signer = this.signer;
    if (!signer) throw new Error('JWT signing keys are not loaded: call ready() before the transaction');
    // Issued and expiring on the kernel clock, the one verify() checks against.
    const now = Math.floor(this.kernel.clock.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: JWT_ALG, kid: signer.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(signer.privateKey);
  }

  private async keyFor(kid: string | undefined): Promise<CryptoKey> {
    if (!kid) throw new errors.JWSInvalid('the token names no key (kid)');
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastLoad > RELOAD_MIN_INTERVAL_MS) {
      await this.reload();
      key = this.keys.get(kid);
    }
    if (!key || (key.expiresAt && key.expiresAt.getTime() <= Date.now())) throw new errors.JWKSNoMatchingKey();
    return key.publicKey;
  }

  /**
   * Verifies signature (ES256 only, key by kid), `exp` (no clock tolerance), `iss` and `aud`; throws
   * jose's errors for anything else.
   */
  async verify(token: string, audience: string | string[]): Promise<JWTPayload> {
    if (this.keys.size === 0) await this.reload();
    else if (Date.now() - this.lastLoad > RELOAD_EVERY_MS) void this.reload().catch(() => {});
    const { payload } = await jwtVerify(token, (header) => this.keyFor(header.kid), {
      algorithms: [JWT_ALG],
      issuer: this.issuer,
      audience,
      requiredClaims: ['sub', 'exp', 'iat'],
      currentDate: new Date(this.kernel.clock.now()),
    });
    return payload;
  }

  /** True while `kid` is a loaded key that has not expired (cached verifications check it). */
  isLive(kid: string): boolean {
    const key = this.keys.get(kid);
    return Boolean(key && (!key.expiresAt || key.expiresAt.getTime() > Date.now()));
  }

  /** The public keys, for anyone verifying tokens themselves (GET /.well-known/jwks.json). */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.ready();
    return { keys: [...this.keys.values()].map((k) => k.publicJwk) };
  }
}
