// Password generation for fields created with `generate: true`, following the field's recipe.
import { randomInt } from 'node:crypto';
import { CHARACTER_SETS, type GeneratorRecipe } from '../connect/index.ts';
import { InvalidInputError } from './errors.ts';

const CHARACTERS: Readonly<Record<(typeof CHARACTER_SETS)[number], string>> = {
  LETTERS: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  DIGITS: '0123456789',
  SYMBOLS: '!@#$%^&*()-_=+[]{};:,.<>/?~',
};

export function generateValue(recipe: GeneratorRecipe = {}): string {
  const length = recipe.length ?? 32;
  if (!Number.isInteger(length) || length < 1 || length > 64) {
    throw new InvalidInputError('recipe.length must be an integer from 1 to 64');
  }
  const sets = recipe.characterSets?.length ? recipe.characterSets : CHARACTER_SETS;
  const unknown = sets.filter((set) => !(CHARACTER_SETS as readonly string[]).includes(set));
  if (unknown.length) {
    throw new InvalidInputError(`unknown recipe.characterSets ${unknown.join(', ')}`);
  }
  const excluded = new Set(recipe.excludeCharacters ?? '');
  const pool = [...new Set(sets.flatMap((set) => [...CHARACTERS[set]]))].filter(
    (character) => !excluded.has(character),
  );
  if (pool.length === 0) throw new InvalidInputError('recipe excludes every character');
  return Array.from({ length }, () => pool[randomInt(pool.length)]).join('');
}
