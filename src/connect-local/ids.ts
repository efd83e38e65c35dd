// Connect-style identifiers: 26 characters of [a-z0-9], drawn from a CSPRNG.
import { randomInt } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function newId(): string {
  let id = '';
  for (let index = 0; index < 26; index += 1) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}
