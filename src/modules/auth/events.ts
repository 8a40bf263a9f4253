import { defineEvents, z } from '../../core/events/catalog.ts';

export const USER_EVENTS = defineEvents('user', {
  'user.created': {
    description: 'A user or portal identity was created (by an admin, a signup, a first magic link, OTP, OAuth or SAML sign-in, or anonymously)',
    payload: z.object({ email: z.string().nullable(), audience: z.enum(['app', 'portal']), role: z.string().nullable(), via: z.string() }),
  },
  'user.updated': { description: 'A user\'s profile, credentials or roles changed', payload: z.object({ changes: z.array(z.string()) }) },
  'user.deleted': { description: 'A user was deleted', payload: z.object({ email: z.string().nullable(), cascaded: z.boolean() }) },
  'user.banned': { description: 'A user was banned; their sessions ended', payload: z.object({ reason: z.string().nullable() }) },
});

export const SESSION_EVENTS = defineEvents('session', {
  'session.revoked': {
    description: 'A session ended before its time: logout, revocation, ban, deletion, password change or refresh-token reuse',
    payload: z.object({ user_id: z.string(), reason: z.string() }),
  },
});

export const MFA_EVENTS = defineEvents('mfa_factor', {
  'mfa.enrolled': { description: 'A user verified a new second factor', payload: z.object({ user_id: z.string(), type: z.string() }) },
});

export const IDENTITY_EVENTS = [...USER_EVENTS, ...SESSION_EVENTS, ...MFA_EVENTS];
