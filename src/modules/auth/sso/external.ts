import { and, eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { AuthConfig } from '../config/service.ts';
import { afterFirstFactor, type SignInResult } from '../flows/service.ts';
import { userIdentities } from '../tables.ts';
import { findUser, findUserByEmail, insertUser, normalizeEmail, updateUserRow } from '../users/store.ts';

export interface ExternalIdentity {
  /** `oauth:<name>` or `saml:<name>`. */
  provider: string;
  subject: string;
  email: string | null;
  /** The provider vouches for the email: only then may it link to an existing account with that email. */
  emailVerified: boolean;
  data: Record<string, unknown>;
  amr: 'oauth' | 'saml';
}

/**
 * Signs in with an identity proven by an external provider: a known link finds its user; else a
 * verified email links to the account that has it (an unverified one never does: that would let anyone
 * claim an account by typing its email at a provider); else a new user is made when signups are open.
 */
export async function signInExternal(ctx: TenantContext, identity: ExternalIdentity, config: AuthConfig): Promise<SignInResult> {
  const [link] = await ctx.db
    .select()
    .from(userIdentities)
    .where(and(eq(userIdentities.tenantId, ctx.tenantId), eq(userIdentities.provider, identity.provider), eq(userIdentities.subject, identity.subject)));
  const email = identity.email ? normalizeEmail(identity.email) : null;
  let user = link ? await findUser(ctx, link.userId) : undefined;
  if (link && user) {
    await ctx.db.update(userIdentities).set({ lastSignInAt: new Date(), email, data: identity.data }).where(eq(userIdentities.id, link.id));
  } else {
    if (email && identity.emailVerified) user = await findUserByEmail(ctx, 'app', email);
    if (!user) {
      if (!config.signup_enabled) throw new ApiError('FORBIDDEN', 'Signups are disabled for this tenant');
      const taken = email ? await findUserByEmail(ctx, 'app', email) : undefined;
      user = await insertUser(ctx, {
        audience: 'app',
        // An unverified email that another account already has is left off the new account.
        email: taken ? null : email,
        emailVerified: Boolean(email && identity.emailVerified && !taken),
        defaultRole: config.default_role,
        via: identity.amr,
      });
    } else if (!user.emailVerifiedAt) {
      user = await updateUserRow(ctx, user.id, { emailVerifiedAt: new Date() }, ['email_verified']);
    }
    if (link) await ctx.db.delete(userIdentities).where(eq(userIdentities.id, link.id));
    await ctx.db.insert(userIdentities).values({
      id: newId('idn'),
      tenantId: ctx.tenantId,
      userId: user.id,
      provider: identity.provider,
      subject: identity.subject,
      email,
      data: identity.data,
      lastSignInAt: new Date(),
    });
    await ctx.audit({ action: 'identity.linked', resourceType: 'user', resourceId: user.id, metadata: { provider: identity.provider } });
  }
  return afterFirstFactor(ctx, user, [identity.amr], config);
}
