// What connect-local's input checks refuse (InvalidInputError, 400) and the character sets it draws values from.
import assert from 'node:assert/strict';
import type { CharacterSet } from '../../src/connect/models.ts';
import { HttpError, InvalidInputError } from '../../src/connect-local/errors.ts';

/** Each set described independently of the generator's own tables. */
export const SET_PATTERNS: Readonly<Record<CharacterSet, RegExp>> = {
  LETTERS: /^[A-Za-z]$/,
  DIGITS: /^[0-9]$/,
  SYMBOLS: /^[!-/:-@[-`{-~]$/,
};

/** `action` throws an InvalidInputError answering 400 with a message matching `message`. */
export function expectInvalid(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(
      error instanceof InvalidInputError,
      `expected InvalidInputError, got ${String(error)}`,
    );
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 400);
    assert.deepEqual(error.toBody(), { status: 400, message: error.message });
    assert.match(error.message, message);
    return true;
  });
}
