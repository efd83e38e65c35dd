import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatGoDuration,
  parseGoBool,
  parseGoDuration,
  parseGoInt,
} from '../../../src/cli/go-values.ts';

describe('parseGoBool (strconv.ParseBool)', () => {
  const cases: [string, boolean | undefined][] = [
    ['1', true],
    ['t', true],
    ['T', true],
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['0', false],
    ['f', false],
    ['F', false],
    ['false', false],
    ['FALSE', false],
    ['False', false],
    ['yes', undefined],
    ['tRuE', undefined],
    ['', undefined],
    [' true', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${String(expected)}`, () =>
      assert.equal(parseGoBool(text), expected));
  }
});

describe('parseGoInt (strconv.ParseInt base 0)', () => {
  const cases: [string, number | undefined][] = [
    ['0', 0],
    ['600', 600],
    ['-5', -5],
    ['+7', 7],
    ['1_000', 1000],
    ['0x1f', 31],
    ['0X1F', 31],
    ['0o17', 15],
    ['017', 15],
    ['0b101', 5],
    ['0x_1f', 31],
    ['08', undefined],
    ['1__0', undefined],
    ['10_', undefined],
    ['_10', undefined],
    ['', undefined],
    ['12a', undefined],
    ['1.5', undefined],
    ['0x', undefined],
    ['9007199254740993', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${String(expected)}`, () =>
      assert.equal(parseGoInt(text), expected));
  }
});

describe('parseGoDuration (time.ParseDuration), in milliseconds', () => {
  const cases: [string, number | undefined][] = [
    ['0', 0],
    ['10s', 10_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['-90m', -5_400_000],
    ['300ms', 300],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['.5s', 500],
    ['1h0m0s', 3_600_000],
    ['10', undefined],
    ['', undefined],
    ['1d', undefined],
    ['s', undefined],
    ['1h 30m', undefined],
    ['-', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${String(expected)}`, () =>
      assert.equal(parseGoDuration(text), expected));
  }
});

describe('formatGoDuration (time.Duration.String)', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [300, '300ms'],
    [1500, '1.5s'],
    [90_000, '1m30s'],
    [600_000, '10m0s'],
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [-90_000, '-1m30s'],
  ];
  for (const [milliseconds, expected] of cases) {
    it(`${milliseconds} ms → ${expected}`, () => {
      assert.equal(formatGoDuration(milliseconds), expected);
      assert.equal(parseGoDuration(expected), milliseconds);
    });
  }
});
