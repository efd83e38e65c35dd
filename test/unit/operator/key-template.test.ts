// spec.keys[].template: Mustache over an item's fields, strict, unescaped, with three helpers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FullItem } from '../../../src/connect/index.ts';
import { KeySpecError } from '../../../src/operator/item-fields.ts';
import { renderKeyTemplate } from '../../../src/operator/key-template.ts';
import { selectSecretData } from '../../../src/operator/secret-keys.ts';

function itemWith(fields: Record<string, string>, admin: Record<string, string> = {}): FullItem {
  return {
    id: 'item-id',
    title: 'registry',
    vault: { id: 'vault-id' },
    category: 'LOGIN',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    sections: [{ id: 'sec', label: 'admin' }],
    fields: [
      ...Object.entries(fields).map(([label, value], index) => ({
        id: `f${index}`,
        type: 'STRING' as const,
        label,
        value,
      })),
      ...Object.entries(admin).map(([label, value], index) => ({
        id: `a${index}`,
        type: 'CONCEALED' as const,
        label,
        value,
        section: { id: 'sec' },
      })),
    ],
  };
}

const PASSWORD = `p@ss/w:rd?#% "quoted" <b>&'{{username}}`;
const postgres = itemWith({
  username: 'app',
  password: PASSWORD,
  server: 'db.internal',
  port: '5432',
  database: 'orders',
});
const WHERE = 'spec.keys[0].template';

const render = (template: string, item: FullItem = postgres): string =>
  renderKeyTemplate(item, template, WHERE);

function refusal(template: string, item: FullItem = postgres): KeySpecError {
  try {
    render(template, item);
  } catch (error) {
    assert.ok(error instanceof KeySpecError, String(error));
    assert.ok(!error.message.includes(PASSWORD), error.message);
    assert.ok(error.message.startsWith(`${WHERE}: `), error.message);
    return error;
  }
  assert.fail(`${template} rendered`);
}

describe('renderKeyTemplate', () => {
  it('composes a Postgres URL with the user and password percent-encoded', () => {
    const url = render(
      'postgresql://{{#urlescape}}{{username}}{{/urlescape}}:{{#urlescape}}{{password}}{{/urlescape}}@{{server}}:{{port}}/{{database}}?sslmode=require',
    );
    const parsed = new URL(url);
    assert.equal(decodeURIComponent(parsed.password), PASSWORD);
    assert.equal(parsed.username, 'app');
    assert.equal(parsed.host, 'db.internal:5432');
    assert.equal(parsed.pathname, '/orders');
  });

  it('writes an .env file with values as they are: no HTML escaping, no re-parsing of values', () => {
    assert.equal(
      render('PGHOST={{server}}\nPGUSER={{username}}\nPGPASSWORD={{password}}\n'),
      `PGHOST=db.internal\nPGUSER=app\nPGPASSWORD=${PASSWORD}\n`,
    );
    assert.equal(render('{{{password}}}|{{&password}}'), `${PASSWORD}|${PASSWORD}`);
  });

  it('builds a .dockerconfigjson whose auth is base64 of user:password', () => {
    const item = itemWith({
      server: 'registry.example:5000',
      username: 'robot$ci',
      password: PASSWORD,
    });
    const text = render(
      '{"auths":{"{{#jsonescape}}{{server}}{{/jsonescape}}":{"username":"{{#jsonescape}}{{username}}{{/jsonescape}}","password":"{{#jsonescape}}{{password}}{{/jsonescape}}","auth":"{{#base64}}{{username}}:{{password}}{{/base64}}"}}}',
      item,
    );
    const config = JSON.parse(text) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    const entry = config.auths['registry.example:5000'];
    assert.equal(entry?.password, PASSWORD);
    assert.equal(Buffer.from(entry?.auth ?? '', 'base64').toString(), `robot$ci:${PASSWORD}`);
  });

  it('reads section fields as <section>.<label>, and a field section as a condition', () => {
    const item = itemWith({ username: 'app', port: '' }, { password: 'root' });
    assert.equal(render('{{username}}/{{admin.password}}', item), 'app/root');
    assert.equal(
      render('host{{#port}}:{{.}}{{/port}}{{^port}} (default port){{/port}}', item),
      'host (default port)',
    );
    assert.equal(render('{{#username}}user={{.}}{{/username}}', item), 'user=app');
  });

  it('keeps its delimiters configurable, as Mustache does', () => {
    assert.equal(render('{{=<% %>=}}{{literal}} <% username %>'), '{{literal}} app');
  });

  it('refuses a name the item lacks, naming the template and the name', () => {
    const error = refusal('{{username}}:{{pasword}}');
    assert.equal(error.reason, 'FieldNotFound');
    assert.equal(
      error.message,
      `${WHERE}: item "registry" has no field labelled "pasword" (nor a section and field of that name)`,
    );
    // Even in a branch that would not render, and whatever the prototype has.
    assert.equal(refusal('{{^username}}{{missing}}{{/username}}').reason, 'FieldNotFound');
    for (const name of ['constructor', '__proto__', 'toString', 'username.length']) {
      assert.equal(refusal(`{{${name}}}`).reason, 'FieldNotFound', name);
    }
  });

  it('refuses a name two fields share', () => {
    const item = itemWith({ password: 'a' }, { password: 'b' });
    assert.equal(refusal('{{password}}', item).reason, 'AmbiguousField');
    assert.equal(render('{{admin.password}}', item), 'b');
  });

  it('refuses what is not a logic-less template over fields', () => {
    const cases: [string, RegExp][] = [
      ['{{> header}}', /partials/],
      ['{{base64}}', /base64 is a helper: write \{\{#base64\}\}/],
      ['{{^base64}}x{{/base64}}', /inverts a helper/],
      ['{{.}}', /only meaningful inside/],
      ['{{#base64}}{{.}}{{/base64}}', /only meaningful inside/],
      ['{{#username}}', /Unclosed section "username"/],
      ['{{username', /Unclosed tag/],
      ['{{#username}}{{/password}}', /Unclosed section|Unopened section/],
    ];
    for (const [template, message] of cases) {
      const error = refusal(template);
      assert.equal(error.reason, 'InvalidTemplate', template);
      assert.match(error.message, message, template);
    }
  });

  it('round-trips any value through urlescape and jsonescape', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (value) => {
        const item = itemWith({ v: value });
        assert.equal(decodeURIComponent(render('{{#urlescape}}{{v}}{{/urlescape}}', item)), value);
        assert.equal(JSON.parse(`"${render('{{#jsonescape}}{{v}}{{/jsonescape}}', item)}"`), value);
        assert.equal(render('{{v}}', item), value);
      }),
    );
  });
});

describe('selectSecretData with templates', () => {
  const files = new Map<string, Buffer>();

  it('puts a rendered template under its key, beside picked fields', () => {
    const { data } = selectSecretData(
      postgres,
      files,
      {
        keys: [
          { to: 'DATABASE_URL', template: 'postgres://{{username}}@{{server}}/{{database}}' },
          { to: 'PGPASSWORD', from: 'password' },
        ],
      },
      { allowEmptyValues: false },
    );
    assert.deepEqual(Object.fromEntries([...data].map(([key, value]) => [key, value.toString()])), {
      DATABASE_URL: 'postgres://app@db.internal/orders',
      PGPASSWORD: PASSWORD,
    });
  });

  it('names the entry of a failing template', () => {
    assert.throws(
      () =>
        selectSecretData(
          postgres,
          files,
          {
            keys: [
              { to: 'A', from: 'username' },
              { to: 'B', template: '{{nope}}' },
            ],
          },
          { allowEmptyValues: false },
        ),
      (error: unknown) =>
        error instanceof KeySpecError && error.message.startsWith('spec.keys[1].template: '),
    );
  });

  it('checks a dockerconfigjson Secret before the apiserver does, without quoting the data', () => {
    const attempt = (keys: { to: string; template: string }[]) => () =>
      selectSecretData(
        postgres,
        files,
        { keys },
        {
          allowEmptyValues: false,
          secretType: 'kubernetes.io/dockerconfigjson',
        },
      );
    assert.throws(
      attempt([{ to: 'config.json', template: '{}' }]),
      (error: unknown) =>
        error instanceof KeySpecError &&
        error.reason === 'InvalidSecretData' &&
        /needs the key \.dockerconfigjson/.test(error.message),
    );
    assert.throws(
      // An unescaped quote in the password breaks the JSON.
      attempt([
        { to: '.dockerconfigjson', template: '{"auths":{"x":{"password":"{{password}}"}}}' },
      ]),
      (error: unknown) =>
        error instanceof KeySpecError &&
        error.reason === 'InvalidSecretData' &&
        !error.message.includes('quoted') &&
        /must hold a JSON object/.test(error.message),
    );
    assert.doesNotThrow(
      attempt([
        {
          to: '.dockerconfigjson',
          template: '{"auths":{"x":{"password":"{{#jsonescape}}{{password}}{{/jsonescape}}"}}}',
        },
      ]),
    );
    // Opaque: not checked; without spec.keys: 1Password's mapping, not checked either.
    assert.doesNotThrow(() =>
      selectSecretData(
        postgres,
        files,
        {},
        {
          allowEmptyValues: false,
          secretType: 'kubernetes.io/dockerconfigjson',
        },
      ),
    );
  });
});
