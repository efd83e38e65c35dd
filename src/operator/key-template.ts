// spec.keys[].template: a logic-less Mustache template over the item's fields. Names resolve as
// `from` does (a label, or <section>.<label>), strictly: a name the item lacks is an error, not an
// empty string. No HTML escaping, no partials, no code: the only functions are the helpers below.
import Mustache from 'mustache';
import type { FullItem } from '../connect/index.ts';
import { fieldByName, KeySpecError } from './item-fields.ts';

/** Section helpers: `{{#base64}}{{username}}:{{password}}{{/base64}}` encodes what they enclose. */
export const TEMPLATE_HELPERS: Readonly<Record<string, (text: string) => string>> = {
  /** Percent-encoding for a URL's user, password, path segment or query value (encodeURIComponent). */
  urlescape: (text) => encodeURIComponent(text),
  /** Standard base64 of the UTF-8 bytes (a dockerconfigjson `auth`). */
  base64: (text) => Buffer.from(text, 'utf8').toString('base64'),
  /** The inside of a JSON string, without the quotes: `"{{#jsonescape}}{{password}}{{/jsonescape}}"`. */
  jsonescape: (text) => JSON.stringify(text).slice(1, -1),
};

function isHelper(name: string): boolean {
  return Object.hasOwn(TEMPLATE_HELPERS, name);
}

/** Mustache's parsed form: [type, name or text, start, end, children?, ...]. */
type Token = [string, string, number, number, Token[]?, ...unknown[]];

function fieldValue(item: FullItem, name: string, where: string): string {
  return fieldByName(item, name, where).value ?? '';
}

/**
 * Mustache's context, with names resolved as fields of the item (no dotted walk through objects,
 * no prototype, no function of the caller's), `.` as the enclosing section's value and the
 * helpers as section lambdas.
 */
class FieldContext extends Mustache.Context {
  readonly #item: FullItem;
  readonly #where: string;

  constructor(item: FullItem, where: string, view: unknown, parent?: FieldContext) {
    super(view, parent);
    this.#item = item;
    this.#where = where;
  }

  override push(view: unknown): FieldContext {
    return new FieldContext(this.#item, this.#where, view, this);
  }

  override lookup(name: string): unknown {
    if (name === '.') return this.view;
    const helper = TEMPLATE_HELPERS[name];
    if (helper && isHelper(name)) {
      return (text: string, render: (template: string) => string) => helper(render(text));
    }
    return fieldValue(this.#item, name, this.#where);
  }
}

/** Every name a template uses must be a field (or `.` in a field's section); helpers only as sections; no partials. */
function check(item: FullItem, tokens: readonly Token[], where: string, inField = false): void {
  for (const [type, name, , , children] of tokens) {
    switch (type) {
      case 'text':
      case '=':
      case '!':
        break;
      case '>':
        throw new KeySpecError(
          'InvalidTemplate',
          `${where}: partials ({{> ${name}}}) are not supported`,
        );
      case '#':
      case '^':
        if (name === '.') {
          throw new KeySpecError('InvalidTemplate', `${where}: {{${type}.}} is not supported`);
        }
        if (!isHelper(name)) fieldValue(item, name, where);
        if (type === '^' && isHelper(name)) {
          throw new KeySpecError(
            'InvalidTemplate',
            `${where}: {{^${name}}} inverts a helper; helpers are used as {{#${name}}}...{{/${name}}}`,
          );
        }
        // Inside {{#field}}, {{.}} is that field's value; a helper or {{^field}} changes nothing.
        check(item, children ?? [], where, inField || (type === '#' && !isHelper(name)));
        break;
      default:
        // 'name' ({{x}}) and '&' ({{{x}}}, {{&x}}): the same, since nothing is escaped.
        if (isHelper(name)) {
          throw new KeySpecError(
            'InvalidTemplate',
            `${where}: ${name} is a helper: write {{#${name}}}...{{/${name}}}`,
          );
        }
        if (name === '.' && !inField) {
          throw new KeySpecError(
            'InvalidTemplate',
            `${where}: {{.}} is only meaningful inside {{#field}}...{{/field}}`,
          );
        }
        if (name !== '.') fieldValue(item, name, where);
    }
  }
}

/**
 * Renders `template` over `item`'s fields. Throws KeySpecError (InvalidTemplate for a template
 * Mustache cannot parse or a misused helper, FieldNotFound/AmbiguousField for a name) naming
 * `where`, never a value. Values are inserted as they are: a value holding `{{` is not parsed.
 */
export function renderKeyTemplate(item: FullItem, template: string, where: string): string {
  // A writer per render: Mustache's default writer caches every template it ever parsed (an edited
  // template would never leave it); parsing one of a few hundred bytes costs microseconds.
  const writer = new Mustache.Writer();
  let tokens: Token[];
  try {
    tokens = writer.parse(template) as Token[];
  } catch (error) {
    // Mustache's parse errors name a tag and a position in the template, never a field's value.
    const message = error instanceof Error ? error.message : String(error);
    throw new KeySpecError('InvalidTemplate', `${where}: ${message}`);
  }
  check(item, tokens, where);
  return writer.renderTokens(
    tokens as unknown as string[][],
    new FieldContext(item, where, Object.create(null)),
    undefined,
    template,
    { escape: (value: unknown) => String(value) },
  );
}
