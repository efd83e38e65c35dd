// MicroTime and Time formatting and parsing: six fractional digits exactly, round trips, what the apiserver writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MicroTime,
  formatMicroTime,
  formatTime,
  parseMicroTime,
  readTimestamp,
} from '../../../src/kube/micro-time.ts';

const SIX_DIGITS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const instant = new Date('2026-11-22T15:04:05.123Z');

// Dates whose UTC year has four digits, as RFC 3339 requires.
const rfc3339Dates = fc.date({
  min: new Date('0000-01-01T00:00:00.000Z'),
  max: new Date('9999-12-31T23:59:59.999Z'),
  noInvalidDate: true,
});

describe('formatMicroTime', () => {
  it('writes six fractional digits in UTC', () => {
    assert.equal(formatMicroTime(instant), '2026-11-22T15:04:05.123000Z');
    assert.equal(formatMicroTime(instant, 456), '2026-11-22T15:04:05.123456Z');
    assert.equal(formatMicroTime(instant, 7), '2026-11-22T15:04:05.123007Z');
    assert.equal(formatMicroTime(new Date('2026-01-02T03:04:05Z')), '2026-01-02T03:04:05.000000Z');
  });

  it('pads years below 1000 to four digits', () => {
    const early = new Date(0);
    early.setUTCFullYear(12, 0, 1);
    assert.equal(formatMicroTime(early), '0012-01-01T00:00:00.000000Z');
  });

  it('refuses invalid dates, years RFC 3339 cannot write and out-of-range microseconds', () => {
    assert.throws(() => formatMicroTime(new Date(Number.NaN)), RangeError);
    assert.throws(() => formatMicroTime(new Date('+010000-01-01T00:00:00Z')), RangeError);
    assert.throws(() => formatMicroTime(new Date('-000001-01-01T00:00:00Z')), RangeError);
    for (const bad of [-1, 1000, 1.5, Number.NaN]) {
      assert.throws(() => formatMicroTime(instant, bad), RangeError, String(bad));
    }
  });

  it('always matches the RFC3339Micro shape for any valid date and microsecond', () => {
    fc.assert(
      fc.property(rfc3339Dates, fc.integer({ min: 0, max: 999 }), (date, micro) =>
        SIX_DIGITS.test(formatMicroTime(date, micro)),
      ),
    );
  });
});

describe('formatTime', () => {
  it('writes RFC 3339 to the second, dropping the fraction as Go does', () => {
    assert.equal(formatTime(instant), '2026-11-22T15:04:05Z');
    assert.equal(formatTime(new Date('2026-11-22T15:04:05.999Z')), '2026-11-22T15:04:05Z');
  });

  it('round-trips through parseMicroTime to the truncated second', () => {
    fc.assert(
      fc.property(rfc3339Dates, (date) => {
        const parsed = parseMicroTime(formatTime(date));
        return (
          parsed.date.getTime() === Math.floor(date.getTime() / 1000) * 1000 &&
          parsed.microseconds === 0
        );
      }),
    );
  });
});

describe('parseMicroTime', () => {
  const cases: [string, string, number][] = [
    ['2026-11-22T15:04:05.123456Z', '2026-11-22T15:04:05.123Z', 456],
    ['2026-11-22T15:04:05Z', '2026-11-22T15:04:05.000Z', 0],
    ['2026-11-22T15:04:05.1Z', '2026-11-22T15:04:05.100Z', 0],
    ['2026-11-22T15:04:05.123Z', '2026-11-22T15:04:05.123Z', 0],
    ['2026-11-22T15:04:05.123456789Z', '2026-11-22T15:04:05.123Z', 456],
    ['2026-11-22t15:04:05.000001z', '2026-11-22T15:04:05.000Z', 1],
    ['2026-11-22T17:04:05.5+02:00', '2026-11-22T15:04:05.500Z', 0],
    ['2026-11-22T10:34:05-04:30', '2026-11-22T15:04:05.000Z', 0],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z', 0],
    ['0012-01-01T00:00:00Z', '0012-01-01T00:00:00.000Z', 0],
  ];
  for (const [text, iso, micro] of cases) {
    it(`reads ${text}`, () => {
      const parsed = parseMicroTime(text);
      assert.equal(parsed.date.toISOString(), iso);
      assert.equal(parsed.microseconds, micro);
    });
  }

  const invalid = [
    '',
    '2026-11-22',
    '2026-11-22 15:04:05Z',
    '2026-11-22T15:04:05',
    '2026-11-22T15:04:05.Z',
    '2026-11-22T15:04:05.1234567890Z',
    '2026-13-01T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-11-22T24:00:00Z',
    '2026-11-22T15:60:00Z',
    '2026-11-22T15:04:60Z',
    '2026-11-22T15:04:05+2:00',
    '2026-11-22T15:04:05+24:00',
    ' 2026-11-22T15:04:05Z',
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseMicroTime(text), RangeError);
    });
  }

  it('round-trips formatMicroTime exactly', () => {
    fc.assert(
      fc.property(rfc3339Dates, fc.integer({ min: 0, max: 999 }), (date, micro) => {
        const parsed = parseMicroTime(formatMicroTime(date, micro));
        return parsed.date.getTime() === date.getTime() && parsed.microseconds === micro;
      }),
    );
  });
});

describe('readTimestamp', () => {
  it('accepts the string client-node hands back for a MicroTime field, a Date, or nothing', () => {
    assert.equal(
      readTimestamp('2026-11-22T15:04:05.123456Z')?.toISOString(),
      '2026-11-22T15:04:05.123Z',
    );
    assert.equal(readTimestamp(instant), instant);
    assert.equal(readTimestamp(undefined), undefined);
    assert.equal(readTimestamp(null), undefined);
  });

  it('refuses malformed strings and invalid Dates', () => {
    assert.throws(() => readTimestamp('yesterday'), RangeError);
    assert.throws(() => readTimestamp(new Date(Number.NaN)), RangeError);
  });
});

describe('MicroTime', () => {
  it('is a Date whose ISO and JSON forms carry six digits', () => {
    const value = new MicroTime(instant, 456);
    assert.ok(value instanceof Date);
    assert.equal(value.getTime(), instant.getTime());
    assert.equal(value.toISOString(), '2026-11-22T15:04:05.123456Z');
    assert.equal(
      JSON.stringify({ renewTime: value }),
      '{"renewTime":"2026-11-22T15:04:05.123456Z"}',
    );
  });

  it('defaults to now with zero microseconds', () => {
    const before = Date.now();
    const value = new MicroTime();
    assert.ok(value.getTime() >= before && value.getTime() <= Date.now());
    assert.match(value.toISOString(), /\.\d{3}000Z$/);
  });

  it('refuses what formatMicroTime refuses', () => {
    assert.throws(() => new MicroTime(new Date(Number.NaN)), RangeError);
    assert.throws(() => new MicroTime(instant, 1000), RangeError);
  });
});
