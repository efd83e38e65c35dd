// expandEndpoint: templates to request paths, with segments and queries percent-encoded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENDPOINTS, expandEndpoint } from '../../../src/connect/client/endpoints.ts';

describe('expandEndpoint', () => {
  it('fills in parameters', () => {
    assert.equal(
      expandEndpoint(ENDPOINTS.fileContent, { vault: 'v', item: 'i', file: 'f' }),
      '/v1/vaults/v/items/i/files/f/content',
    );
  });

  it('percent-encodes segments so an id cannot reach another route', () => {
    assert.equal(
      expandEndpoint(ENDPOINTS.item, { vault: '../x', item: 'a b/c?d#e' }),
      '/v1/vaults/..%2Fx/items/a%20b%2Fc%3Fd%23e',
    );
  });

  it('refuses empty and dot segments', () => {
    for (const vault of ['', '.', '..']) {
      assert.throws(() => expandEndpoint(ENDPOINTS.vault, { vault }), RangeError);
    }
  });

  it('appends defined query values, spaces as %20', () => {
    assert.equal(
      expandEndpoint(ENDPOINTS.vaults, {}, { filter: 'title eq "My Vault"' }),
      '/v1/vaults?filter=title%20eq%20%22My%20Vault%22',
    );
    assert.equal(
      expandEndpoint(ENDPOINTS.activity, {}, { limit: 10, offset: undefined }),
      '/v1/activity?limit=10',
    );
    assert.equal(expandEndpoint(ENDPOINTS.vaults, {}, { filter: undefined }), '/v1/vaults');
  });
});
