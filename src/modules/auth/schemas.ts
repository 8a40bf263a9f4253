import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../core/http/envelope.ts';
import { jsonObject } from '../../core/http/json.ts';
import { PASSWORD_MAX_LENGTH } from './users/passwords.ts';

export const Email = z.string().trim().toLowerCase().email().max(320).openapi({ example: 'user@example.com' });
export const Phone = z
  .string()
  .trim()
  .regex(/^\+[1-9]\d{6,14}$/, 'Must be an E.164 number, e.g. +15551234567')
  .openapi({ example: '+15551234567' });
/** The length and policy checks happen in the service (they depend on the tenant's policy); this caps the size. */
export const Password = z.string().min(1).max(PASSWORD_MAX_LENGTH).openapi({ description: `8..${PASSWORD_MAX_LENGTH} characters, not a common password; the tenant may require more` });
export const Metadata = jsonObject(16 * 1024, z.string().max(100)).openapi({ example: { name: 'Jane Doe' } });
export const RedirectTo = z.string().max(2000).optional().openapi({ description: 'Where the emailed link leads; must be in the tenant\'s redirect allowlist' });
export const Turnstile = z
  .string()
  .max(4096)
  .optional()
  .openapi({
    description:
      'Cloudflare Turnstile response token. Required when the tenant\'s auth config enables `captcha` (site key in GET /v1/tenant-config), and checked with Cloudflare: missing or refused is 400, an unreachable verifier 503. Ignored otherwise.',
  });

export const UserSchema = z
  .object({
    id: z.string().openapi({ example: 'usr_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    role: z.string().openapi({ description: 'Name of the primary role; `authenticated` for a user without roles, `anonymous` for anonymous users' }),
    audience: z.enum(['app', 'portal']).openapi({ description: '`portal` for the tenant\'s customers\' portal identities' }),
    email_verified: z.boolean(),
    phone_verified: z.boolean(),
    is_anonymous: z.boolean(),
    banned: z.boolean(),
    ban_reason: z.string().nullable(),
    banned_at: IsoDate.nullable(),
    user_metadata: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
    updated_at: IsoDate,
    last_sign_in_at: IsoDate.nullable(),
  })
  .openapi('User');

const DEVICE_NOTE =
  'Password sign-ins answer with this device\'s token; keep it (like a refresh token, but it signs nothing in) and send it as `device_token` with later sign-ins: failed guesses from elsewhere then never lock this device out, only its own failures do.';

/** What a sign-in request sends back: the token a previous password sign-in answered with. */
export const DeviceToken = z
  .string()
  .max(200)
  .optional()
  .openapi({ description: `The \`device_token\` of an earlier sign-in on this device. ${DEVICE_NOTE}` });

const DeviceTokenOut = z.string().optional().openapi({ example: 'dv_01jh..._abc123', description: DEVICE_NOTE });

export const AuthSessionSchema = z
  .object({
    access_token: z.string().openapi({ description: 'ES256 JWT; send as `Authorization: Bearer`' }),
    refresh_token: z.string().openapi({ example: 'rt_01jh..._abc123', description: 'Single use: every refresh returns a new one; reusing a spent one revokes the session (after the auth config\'s refresh_token_reuse_interval)' }),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().openapi({ example: 3600 }),
    expires_at: z.number().int().openapi({ description: 'Unix seconds' }),
    session_id: z.string(),
    user: UserSchema,
    device_token: DeviceTokenOut,
  })
  .openapi('AuthSession');

export const MfaChallengeSchema = z
  .object({
    mfa_required: z.literal(true),
    mfa_ticket: z.string().openapi({ description: 'Send to POST /v1/auth/mfa/complete (or /mfa/recover) within `expires_in` seconds' }),
    expires_in: z.number().int(),
    user_id: z.string(),
    factors: z.array(z.object({ id: z.string(), type: z.literal('totp'), friendly_name: z.string().nullable() })),
    device_token: DeviceTokenOut,
  })
  .openapi('MfaChallenge');

export const SignInResultSchema = z.union([AuthSessionSchema, MfaChallengeSchema]).openapi('SignInResult', {
  description: 'Tokens, or an MFA challenge when the user has a verified second factor',
});

export const MessageSchema = z.object({ message: z.string() });

export const VerificationRequiredSchema = z
  .object({ email_verification_required: z.literal(true), email: z.string(), message: z.string() })
  .openapi('EmailVerificationRequired');

export const FactorSchema = z
  .object({
    id: z.string().openapi({ example: 'mfa_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    type: z.literal('totp'),
    friendly_name: z.string().nullable(),
    status: z.enum(['verified', 'unverified']),
    created_at: IsoDate,
    verified_at: IsoDate.nullable(),
    last_used_at: IsoDate.nullable(),
  })
  .openapi('MfaFactor');

export const SessionSchema = z
  .object({
    id: z.string().openapi({ example: 'sess_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    user_id: z.string(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    aal: z.enum(['aal1', 'aal2']),
    amr: z.array(z.string()),
    current: z.boolean(),
    created_at: IsoDate,
    last_active_at: IsoDate,
    expires_at: IsoDate,
  })
  .openapi('Session');

export const PasskeySchema = z
  .object({
    id: z.string().openapi({ example: 'pk_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    user_id: z.string(),
    credential_id: z.string(),
    friendly_name: z.string().nullable(),
    device_type: z.string().nullable(),
    backed_up: z.boolean(),
    created_at: IsoDate,
    last_used_at: IsoDate.nullable(),
  })
  .openapi('Passkey');
