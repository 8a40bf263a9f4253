import { Decimal as DecimalJs } from 'decimal.js';

/**
 * Exact money. Rule chosen: amounts are rounded HALF AWAY FROM ZERO (ROUND_HALF_UP in decimal.js, which
 * rounds 2.5 to 3 and -2.5 to -3) to the currency's `decimal_places`. Allocations that split an amount
 * (tax, conversion of several lines, partial settlements) give the rounding remainder to one part, so
 * the parts always add up to the whole: no cent is lost or created.
 */
export const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_UP, toExpNeg: -40, toExpPos: 40 });
export type Decimal = InstanceType<typeof Decimal>;

export const D = (v: string | number | Decimal | null | undefined) => new Decimal(v ?? 0);
export const ZERO = new Decimal(0);

/** Rounds half away from zero to `places` decimals. */
export function round(v: Decimal, places: number): Decimal {
  return v.toDecimalPlaces(places, Decimal.ROUND_HALF_UP);
}

/** The fixed string of an amount with exactly `places` decimals (what responses carry). */
export function money(v: Decimal | string, places: number): string {
  return D(v).toFixed(places, Decimal.ROUND_HALF_UP);
}

/** A plain number for JSON answers where the seed shows numbers (amount fields are numbers in the seed). */
export function num(v: Decimal | string | null | undefined): number {
  return D(v).toNumber();
}

/** Does `v` have no more than `places` decimals? (input amounts finer than the currency are refused) */
export function fits(v: Decimal, places: number): boolean {
  return v.decimalPlaces() <= places;
}

export function sum(values: Decimal[]): Decimal {
  return values.reduce((a, b) => a.plus(b), ZERO);
}
