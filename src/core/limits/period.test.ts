import { describe, expect, it } from 'vitest';
import { billingPeriod } from './period.ts';

const at = (iso: string) => new Date(iso);
const span = (now: string, anchor?: number) => {
  const p = billingPeriod(at(now), anchor);
  return [p.key, p.start.toISOString().slice(0, 10), p.end.toISOString().slice(0, 10)];
};

describe('billing periods', () => {
  it('are calendar months without an anchor day, keyed as before (YYYY-MM)', () => {
    expect(span('2026-12-06T10:00:00Z')).toEqual(['2026-12', '2026-12-01', '2027-01-01']);
    expect(span('2026-12-01T00:00:00Z', 1)).toEqual(['2026-12', '2026-12-01', '2027-01-01']);
    expect(span('2026-11-30T23:59:59Z', 1)).toEqual(['2026-11', '2026-11-01', '2026-12-01']);
  });

  it('start on the anchor day at midnight UTC, the month before until that day comes', () => {
    expect(span('2026-12-15T00:00:00Z', 15)).toEqual(['2026-12-15', '2026-12-15', '2027-01-15']);
    expect(span('2026-12-14T23:59:59Z', 15)).toEqual(['2026-11-15', '2026-11-15', '2026-12-15']);
    expect(span('2027-01-03T08:00:00Z', 20)).toEqual(['2026-12-20', '2026-12-20', '2027-01-20']);
  });

  it('start on the last day of a month shorter than the anchor day, and return to it after', () => {
    expect(span('2027-02-28T12:00:00Z', 31)).toEqual(['2027-02-28', '2027-02-28', '2027-03-31']);
    expect(span('2027-02-27T12:00:00Z', 31)).toEqual(['2027-01-31', '2027-01-31', '2027-02-28']);
    expect(span('2028-02-29T01:00:00Z', 30)).toEqual(['2028-02-29', '2028-02-29', '2028-03-30']);
    expect(span('2026-04-30T00:00:00Z', 31)).toEqual(['2026-04-30', '2026-04-30', '2026-05-31']);
  });

  it('treat an impossible anchor day as the 1st', () => {
    expect(span('2026-12-06T10:00:00Z', 0)).toEqual(['2026-12', '2026-12-01', '2027-01-01']);
    expect(span('2026-12-06T10:00:00Z', 32)).toEqual(['2026-12', '2026-12-01', '2027-01-01']);
  });
});
