// src/cli is the bottom layer of the command line: it imports only itself, Node and pino, never a component.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const CLI_DIR = new URL('../../../src/cli/', import.meta.url);

describe('src/cli is a leaf', () => {
  it('imports nothing outside src/cli but Node built-ins and pino', () => {
    const outside: string[] = [];
    for (const file of readdirSync(CLI_DIR).filter((name) => name.endsWith('.ts'))) {
      const source = readFileSync(new URL(file, CLI_DIR), 'utf8');
      for (const [, specifier] of source.matchAll(/^(?:import|export)[^'"]*from\s+'([^']+)'/gm)) {
        if (specifier?.startsWith('./') || specifier?.startsWith('node:') || specifier === 'pino')
          continue;
        outside.push(`${file}: ${specifier}`);
      }
    }
    assert.deepEqual(outside, []);
  });
});
