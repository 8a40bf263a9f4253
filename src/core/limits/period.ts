/**
 * The billing period monthly quotas count in. A tenant's period starts on its billing anchor day (the day of
 * the month its subscription started; 1 without one), at 00:00 UTC; in a month shorter than the anchor day it
 * starts on the month's last day, as Stripe bills a subscription anchored on the 31st.
 */
export interface BillingPeriod {
  /** `YYYY-MM` for periods anchored on the 1st (calendar months), `YYYY-MM-DD` of the start otherwise. */
  key: string;
  start: Date;
  end: Date;
  anchorDay: number;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
const anchoredIn = (year: number, month: number, day: number) => new Date(Date.UTC(year, month, Math.min(day, daysIn(year, month))));

export function normaliseAnchorDay(day: number | null | undefined): number {
  return Number.isInteger(day) && day! >= 1 && day! <= 31 ? day! : 1;
}

/** The current period per anchor day: every request's quota check asks for it, and it changes once a month. */
const current = new Map<number, BillingPeriod>();

export function billingPeriod(now: Date = new Date(), anchorDay?: number | null): BillingPeriod {
  const day = normaliseAnchorDay(anchorDay);
  const known = current.get(day);
  const t = now.getTime();
  if (known && t >= known.start.getTime() && t < known.end.getTime()) return known;
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  let start = anchoredIn(y, m, day);
  if (start.getTime() > now.getTime()) start = anchoredIn(y, m - 1, day);
  const end = anchoredIn(start.getUTCFullYear(), start.getUTCMonth() + 1, day);
  const key = day === 1 ? start.toISOString().slice(0, 7) : start.toISOString().slice(0, 10);
  const period = { key, start, end, anchorDay: day };
  current.set(day, period);
  return period;
}

/** Whole seconds until the period ends (at least 1), for Retry-After. */
export const secondsToPeriodEnd = (period: BillingPeriod, now: Date = new Date()) =>
  Math.max(1, Math.ceil((period.end.getTime() - now.getTime()) / 1000));
