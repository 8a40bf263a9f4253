import { Decimal } from 'decimal.js';
import { z } from '@hono/zod-openapi';

/** The minor-unit digits of a currency, as the runtime's ICU knows them (USD 2, JPY 0, KWD 3). */
export function currencyPlaces(code: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export const Currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 code like USD')
  .transform((s) => s.toUpperCase())
  .openapi({ example: 'USD' });

export const LineItem = z
  .object({
    name: z.string().trim().min(1).max(200),
    quantity: z.number().positive().max(1_000_000),
    unit_price: z.number().min(0).max(1_000_000_000),
  })
  .openapi('LineItem');

/**
 * Line totals are quantity x unit price in decimal arithmetic, each rounded half away from zero to the
 * currency's minor unit, and the subtotal is their sum: what a customer adds up on paper is what is
 * stored (never the float product 0.1 x 3 = 0.30000000000000004).
 */
export function totals(items: z.infer<typeof LineItem>[], currency: string) {
  const places = currencyPlaces(currency);
  const lines = items.map((i) => {
    const total = new Decimal(String(i.quantity)).times(new Decimal(String(i.unit_price))).toDecimalPlaces(places, Decimal.ROUND_HALF_UP);
    return { ...i, total: total.toNumber() };
  });
  const subtotal = lines.reduce((sum, l) => sum.plus(l.total), new Decimal(0));
  return { lines, subtotal: subtotal.toNumber(), total: subtotal.toNumber() };
}
