// attachmentDisposition: a valid, ASCII-only header for any file name, the exact name recoverable.
import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { attachmentDisposition } from '../../../src/connect-local/content-disposition.ts';

/** What a client following RFC 6266 reads: filename* when present, else the quoted fallback. */
function nameOf(header: string): string {
  const extended = /; filename\*=UTF-8''([!#$&+\-.^_`|~0-9A-Za-z%]*)$/.exec(header)?.[1];
  if (extended !== undefined) return decodeURIComponent(extended);
  return /^attachment; filename="([^"\\]*)"$/.exec(header)?.[1] ?? assert.fail(header);
}

function fallbackOf(header: string): string {
  return /^attachment; filename="([^"]*)"/.exec(header)?.[1] ?? assert.fail(header);
}

describe('attachmentDisposition', () => {
  it('keeps the plain form Connect sends for printable ASCII names', () => {
    for (const name of ['small.txt', 'id_rsa', 'my key (1).pem', "it's;here=1.txt"]) {
      assert.equal(attachmentDisposition(name), `attachment; filename="${name}"`);
    }
  });

  it('adds filename* with the exact name, and an ASCII fallback, for hostile names', () => {
    const cases: [string, string][] = [
      ['🔑 key.pem', '_ key.pem'],
      ['café.txt', 'cafe.txt'],
      ['quote"in.txt', 'quote_in.txt'],
      ['back\\slash.txt', 'back_slash.txt'],
      ['line\r\nX-Injected: 1', 'line__X-Injected: 1'],
      ['100%25.txt', '100_25.txt'],
      ['../../etc/passwd', '.._.._etc_passwd'],
      ['\u0000', '_'],
      ['', 'file'],
      ['日本', '__'],
    ];
    for (const [name, fallback] of cases) {
      const header = attachmentDisposition(name);
      validateHeaderValue('content-disposition', header);
      assert.equal(fallbackOf(header), fallback, JSON.stringify(name));
      assert.equal(nameOf(header), name, JSON.stringify(name));
    }
  });

  it('encodes the characters RFC 5987 leaves out of attr-char', () => {
    assert.equal(
      attachmentDisposition("é'()*.txt"),
      `attachment; filename="e'()*.txt"; filename*=UTF-8''%C3%A9%27%28%29%2A.txt`,
    );
  });

  it('is a valid ASCII header for any string, the (well-formed) name recoverable', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (name) => {
        const header = attachmentDisposition(name);
        validateHeaderValue('content-disposition', header);
        assert.match(header, /^[\x20-\x7e]+$/);
        assert.doesNotMatch(fallbackOf(header), /["\\/%]/);
        assert.equal(nameOf(header), name.toWellFormed());
      }),
      { numRuns: 2000 },
    );
  });
});
