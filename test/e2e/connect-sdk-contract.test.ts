// Contract: 1Password's own JS Connect SDK, used unchanged, works against connect-local over HTTP.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import {
  FieldPurpose,
  FieldType,
  GeneratorRecipe,
  ItemBuilder,
  ItemCategory,
  OnePasswordConnect,
  type FullItem,
} from '@1password/connect';
import { startConnectLocal } from '../support/connect-local.ts';

const PRODUCTION = 'prod0000000000000000000001';
const STAGING = 'stag0000000000000000000001';
// Multi-byte UTF-8, so a client that decodes or measures the file wrongly shows it.
const NOTE = 'ça marche ✓\nline two\n';
const OTP_SECRET = 'JBSWY3DPEHPK3PXP';

const DATA = `
vaults:
  - id: ${PRODUCTION}
    name: Production
    description: Secrets for production
    items:
      - title: database
        category: DATABASE
        tags: [team-a]
        urls:
          - { href: 'https://db.example', label: website, primary: true }
        sections:
          - { id: extra, label: Extra }
        fields:
          - { label: username, value: admin, purpose: USERNAME }
          - { label: password, value: s3cr3t, type: CONCEALED, purpose: PASSWORD }
          - { label: port, value: '5432', section: extra }
        files:
          - { name: note.txt, content: ${JSON.stringify(NOTE)} }
      - title: api-key
        category: API_CREDENTIAL
        fields:
          - { label: credential, value: prod-api-key-1, type: CONCEALED }
      - title: two-factor
        fields:
          - { label: one-time password, type: OTP, value: 'otpauth://totp/op-kube?secret=${OTP_SECRET}&issuer=op-kube' }
  - id: ${STAGING}
    name: Staging
    items:
      - title: database
        category: DATABASE
        fields:
          - { label: username, value: staging, purpose: USERNAME }
`;

/** The SDK rejects with the server's JSON error body (or its own look-alike for title look-ups). */
function sdkError(status: number, message: string): { status: number; message: string } {
  return { status, message };
}

/** The SDK deserializes into its model classes; compare the data as it went over the wire. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function field(
  item: FullItem,
  label: string,
): { id?: string; value?: string; section?: { id?: string } } {
  const found = item.fields?.find((candidate) => candidate.label === label);
  assert.ok(found, `item ${item.title} has no field ${label}`);
  return found;
}

/** RFC 6238 with the otpauth defaults (SHA-1, 30 s, 6 digits), to check the server's code. */
function totp(base32Secret: string, at: number): string {
  const bits = [...base32Secret]
    .map((char) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(char).toString(2).padStart(5, '0'))
    .join('');
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const hmac = createHmac('sha1', key).update(counter).digest();
  const offset = (hmac.at(-1) ?? 0) & 0xf;
  return String((hmac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

// One server for the file: the create/update/delete steps build on each other.
const server = await startConnectLocal({ after }, { data: DATA });
const op = OnePasswordConnect({
  serverURL: server.url,
  token: await server.token({ vaults: ['Production,rw'] }),
  keepAlive: true,
});

describe('@1password/connect SDK against connect-local', () => {
  describe('vaults', () => {
    it('lists only the vaults the token grants, with their metadata', async () => {
      const vaults = await op.listVaults();
      assert.deepEqual(
        vaults.map((vault) => [vault.id, vault.name, vault.description, vault.items, vault.type]),
        [[PRODUCTION, 'Production', 'Secrets for production', 3, 'USER_CREATED']],
      );
      assert.ok(
        vaults[0]?.createdAt instanceof Date && !Number.isNaN(vaults[0].createdAt.getTime()),
      );
    });

    it('gets a vault by id and by title', async () => {
      for (const vault of [
        await op.getVault(PRODUCTION),
        await op.getVaultById(PRODUCTION),
        await op.getVault('Production'),
        await op.getVaultByTitle('Production'),
      ]) {
        assert.equal(vault.id, PRODUCTION);
        assert.equal(vault.name, 'Production');
      }
      assert.deepEqual(
        (await op.listVaultsByTitle('Production')).map((vault) => vault.id),
        [PRODUCTION],
      );
    });

    it('refuses a vault outside the token and finds no vault by its title', async () => {
      await assert.rejects(
        op.getVaultById(STAGING),
        sdkError(403, 'Authorization: token does not have access to vault'),
      );
      await assert.rejects(
        op.getVaultByTitle('Staging'),
        sdkError(404, 'No Vaults found with title'),
      );
    });
  });

  describe('items', () => {
    it('lists item summaries', async () => {
      const items = await op.listItems(PRODUCTION);
      assert.deepEqual(
        items.map((item) => [item.title, item.category, item.vault.id, item.version]).sort(),
        [
          ['api-key', 'API_CREDENTIAL', PRODUCTION, 1],
          ['database', 'DATABASE', PRODUCTION, 1],
          ['two-factor', 'LOGIN', PRODUCTION, 1],
        ],
      );
    });

    it('gets an item by title and by id with its fields, sections, urls and tags', async () => {
      const byTitle = await op.getItemByTitle(PRODUCTION, 'database');
      assert.match(byTitle.id ?? '', /^[a-z0-9]{26}$/);
      const id = byTitle.id ?? '';
      for (const item of [
        byTitle,
        await op.getItem(PRODUCTION, 'database'),
        await op.getItem(PRODUCTION, id),
        await op.getItemById(PRODUCTION, id),
      ]) {
        assert.equal(item.id, id);
        assert.equal(item.title, 'database');
        assert.equal(item.category, 'DATABASE');
        assert.deepEqual(item.tags, ['team-a']);
        assert.deepEqual(plain(item.urls), [
          { href: 'https://db.example', label: 'website', primary: true },
        ]);
        assert.deepEqual(plain(item.sections), [{ id: 'extra', label: 'Extra' }]);
        assert.equal(field(item, 'username').id, 'username');
        assert.equal(field(item, 'username').value, 'admin');
        assert.equal(field(item, 'password').value, 's3cr3t');
        assert.equal(field(item, 'port').value, '5432');
        assert.equal(field(item, 'port').section?.id, 'extra');
        assert.ok(item.createdAt instanceof Date && item.updatedAt instanceof Date);
      }
      assert.deepEqual(
        (await op.listItemsByTitle(PRODUCTION, 'database')).map(
          (item) => field(item, 'password').value,
        ),
        ['s3cr3t'],
      );
      assert.deepEqual(
        (await op.listItemsByTitleContains(PRODUCTION, 'api')).map(
          (item) => field(item, 'credential').value,
        ),
        ['prod-api-key-1'],
      );
    });

    it("reads an OTP field's current code", async () => {
      const before = totp(OTP_SECRET, Date.now());
      const code = await op.getItemOTP(PRODUCTION, 'two-factor');
      const after = totp(OTP_SECRET, Date.now());
      assert.ok([before, after].includes(code), `got ${JSON.stringify(code)}, expected ${before}`);
    });

    it('answers the SDK errors for unknown items', async () => {
      await assert.rejects(
        op.getItemByTitle(PRODUCTION, 'no-such-item'),
        sdkError(404, 'No Items found with title'),
      );
      const missing = 'zzzz0000000000000000000000';
      await assert.rejects(
        op.getItemById(PRODUCTION, missing),
        sdkError(404, `item ${missing} not found`),
      );
    });
  });

  describe('files', () => {
    it('lists and gets file metadata, by vault and item titles too', async () => {
      const item = await op.getItemByTitle(PRODUCTION, 'database');
      const files = await op.listFiles('Production', 'database');
      assert.equal(files.length, 1);
      const [file] = files;
      assert.ok(file);
      assert.match(file.id ?? '', /^[a-z0-9]{26}$/);
      assert.equal(file.name, 'note.txt');
      assert.equal(file.size, Buffer.byteLength(NOTE));
      assert.equal(
        file.content_path,
        `/v1/vaults/${PRODUCTION}/items/${item.id}/files/${file.id}/content`,
      );
      assert.equal(file.content, undefined);
      assert.deepEqual(
        item.files?.map((listed) => listed.id),
        [file.id],
      );
      assert.deepEqual(await op.listFiles(PRODUCTION, item.id ?? ''), files);
      assert.deepEqual(await op.getFileById(PRODUCTION, item.id ?? '', file.id ?? ''), file);
    });

    it('downloads file content as text and as the exact bytes', async () => {
      const [file] = await op.listFiles('Production', 'database');
      const fileId = file?.id ?? '';
      assert.equal(await op.getFileContent('Production', 'database', fileId), NOTE);
      const bytes = await bytesOf(
        (await op.getFileContentStream(PRODUCTION, 'database', fileId)) as Readable,
      );
      assert.deepEqual(bytes, Buffer.from(NOTE, 'utf8'));
    });
  });

  describe('create, update, delete', () => {
    let created: FullItem;

    it('creates an item built with ItemBuilder, generating the requested password', async () => {
      const before = await op.getVaultById(PRODUCTION);
      const draft = new ItemBuilder()
        .setCategory(ItemCategory.Login)
        .setTitle('sdk-created')
        .addTag('sdk')
        .addUrl({ href: 'https://app.example', primary: true })
        .addField({ label: 'username', value: 'deploy', purpose: FieldPurpose.Username })
        .addField({
          label: 'password',
          purpose: FieldPurpose.Password,
          type: FieldType.Concealed,
          generate: true,
          recipe: {
            length: 40,
            characterSets: [
              GeneratorRecipe.CharacterSetsEnum.Letters,
              GeneratorRecipe.CharacterSetsEnum.Digits,
            ],
          },
        })
        .addField({ label: 'host', value: 'db.internal', sectionName: 'Connection' })
        .build();
      created = await op.createItem(PRODUCTION, draft);

      assert.match(created.id ?? '', /^[a-z0-9]{26}$/);
      assert.equal(created.title, 'sdk-created');
      assert.equal(created.category, 'LOGIN');
      assert.equal(created.vault.id, PRODUCTION);
      assert.equal(created.version, 1);
      assert.deepEqual(created.tags, ['sdk']);
      assert.deepEqual(plain(created.urls), [{ href: 'https://app.example', primary: true }]);
      assert.equal(field(created, 'username').id, 'username');
      assert.equal(field(created, 'username').value, 'deploy');
      assert.equal(field(created, 'password').id, 'password');
      assert.match(field(created, 'password').value ?? '', /^[A-Za-z0-9]{40}$/);
      const section = created.sections?.find((candidate) => candidate.label === 'Connection');
      assert.ok(section?.id);
      assert.equal(field(created, 'host').section?.id, section.id);
      assert.equal(field(created, 'host').value, 'db.internal');

      const fetched = await op.getItemById(PRODUCTION, created.id ?? '');
      assert.equal(field(fetched, 'password').value, field(created, 'password').value);
      const vault = await op.getVaultById(PRODUCTION);
      assert.equal(vault.items, 4);
      assert.ok(
        (vault.contentVersion ?? 0) > (before.contentVersion ?? 0),
        'contentVersion grows on create',
      );
    });

    it('updates the item with a full replace, bumping its version each time', async () => {
      const current = await op.getItemById(PRODUCTION, created.id ?? '');
      current.title = 'sdk-updated';
      current.tags = ['sdk', 'updated'];
      const username = current.fields?.find((candidate) => candidate.id === 'username');
      assert.ok(username);
      username.value = 'deploy-2';

      const updated = await op.updateItem(PRODUCTION, current);
      assert.equal(updated.id, created.id);
      assert.equal(updated.version, 2);
      assert.equal(updated.title, 'sdk-updated');
      assert.deepEqual(updated.tags, ['sdk', 'updated']);
      assert.equal(field(updated, 'username').value, 'deploy-2');
      assert.equal(field(updated, 'host').value, 'db.internal');
      assert.equal(updated.createdAt?.getTime(), created.createdAt?.getTime());

      updated.title = 'sdk-updated-twice';
      assert.equal((await op.updateItem(PRODUCTION, updated)).version, 3);
      const fetched = await op.getItem(PRODUCTION, 'sdk-updated-twice');
      assert.equal(fetched.id, created.id);
      assert.equal(fetched.version, 3);
      assert.equal(field(fetched, 'username').value, 'deploy-2');
    });

    // The spec: `generate` makes a value "if value is not present". A GET-modify-PUT round trip
    // sends the value back, so it must not rotate the password.
    it('keeps a generated password when the item is sent back unchanged', async () => {
      const current = await op.getItemById(PRODUCTION, created.id ?? '');
      const updated = await op.updateItem(PRODUCTION, current);
      assert.equal(updated.version, (current.version ?? 0) + 1);
      assert.equal(field(updated, 'password').value, field(current, 'password').value);
      assert.equal(field(updated, 'password').value, field(created, 'password').value);
    });

    it('deletes the item by id; it is then gone (404)', async () => {
      const id = created.id ?? '';
      await op.deleteItem(PRODUCTION, id);
      await assert.rejects(op.getItemById(PRODUCTION, id), sdkError(404, `item ${id} not found`));
      await assert.rejects(
        op.getItemByTitle(PRODUCTION, 'sdk-updated-twice'),
        sdkError(404, 'No Items found with title'),
      );
      await assert.rejects(
        op.deleteItemById(PRODUCTION, id),
        sdkError(404, `item ${id} not found`),
      );
      assert.equal((await op.getVaultById(PRODUCTION)).items, 3);
    });

    it('deletes an item by title', async () => {
      const draft = new ItemBuilder()
        .setCategory(ItemCategory.SecureNote)
        .setTitle('sdk-short-lived')
        .addField({ label: 'notesPlain', value: 'bye', purpose: FieldPurpose.Notes })
        .build();
      const item = await op.createItem(PRODUCTION, draft);
      assert.equal(field(item, 'notesPlain').id, 'notesPlain');
      await op.deleteItemByTitle(PRODUCTION, 'sdk-short-lived');
      await assert.rejects(
        op.getItemById(PRODUCTION, item.id ?? ''),
        sdkError(404, `item ${item.id} not found`),
      );
    });

    it('refuses writes with a read-only token', async () => {
      const reader = OnePasswordConnect({
        serverURL: server.url,
        token: await server.token({ vaults: ['Production,r'] }),
      });
      const draft = new ItemBuilder()
        .setCategory(ItemCategory.Login)
        .setTitle('not-allowed')
        .build();
      await assert.rejects(reader.createItem(PRODUCTION, draft), { status: 403 });
      assert.equal((await reader.getItemByTitle(PRODUCTION, 'database')).title, 'database');
    });
  });
});
