// The schemas every Connect answer is checked against: strict where op-kube relies on a field, open where the API grows.
//
// Rules (docs/decisions/010-connect-answer-validation.md):
// - Required and type-checked: what a sync relies on — ids, `version` and `contentVersion`
//   (non-negative integers), `vault.id`, titles and names (lookups and keys), field labels and
//   values and URL hrefs (they become Secret data), file ids, names and sizes. Every array is an
//   array; every documented property that is present has its documented type.
// - Open: unknown properties pass through untouched (a newer Connect adds them, and an item read
//   then written back must keep them); category, field type, purpose and the other enums accept
//   any string.
// - Connect is a Go server that leaves out zero values (`omitempty`): a documented property the
//   sync does not rely on may be missing, and reads as its zero value (0, '', []).
// The output types equal the models in models.ts, checked at compile time below, so the two
// cannot drift apart.
import * as v from 'valibot';
import { CHARACTER_SETS } from './models.ts';
import type {
  ActivityAction,
  ActivityResult,
  ApiRequest,
  CharacterSet,
  FieldPurpose,
  FieldType,
  ItemCategory,
  VaultType,
  Field,
  FullItem,
  GeneratorRecipe,
  Health,
  ItemFile,
  ItemSummary,
  OpenEnum,
  Section,
  ServiceHealth,
  Vault,
} from './models.ts';

const id = v.pipe(v.string(), v.minLength(1, 'expected a non-empty string'));
const count = v.pipe(
  v.number(),
  v.integer('expected an integer'),
  v.minValue(0, 'expected a non-negative integer'),
);
const zeroCount = v.optional(count, 0);
const zeroString = v.optional(v.string(), '');
const open = <T extends string>(): v.GenericSchema<OpenEnum<T>> =>
  v.custom<OpenEnum<T>>((input) => typeof input === 'string', 'expected a string');
const ref = v.looseObject({ id });

const vault = v.looseObject({
  id,
  name: v.string(),
  description: v.optional(v.string()),
  attributeVersion: zeroCount,
  contentVersion: count,
  items: zeroCount,
  type: v.optional(open<VaultType>(), ''),
  createdAt: zeroString,
  updatedAt: zeroString,
});

const url = v.looseObject({
  href: v.string(),
  label: v.optional(v.string()),
  primary: v.optional(v.boolean()),
});

const summaryEntries = {
  id,
  title: v.string(),
  vault: ref,
  category: v.optional(open<ItemCategory>(), ''),
  urls: v.optional(v.array(url)),
  favorite: v.optional(v.boolean()),
  tags: v.optional(v.array(v.string())),
  version: count,
  state: v.optional(open<'ARCHIVED' | 'DELETED'>()),
  createdAt: zeroString,
  updatedAt: zeroString,
  lastEditedBy: v.optional(v.string()),
};
const summary = v.looseObject(summaryEntries);

const section = v.looseObject({ id: zeroString, label: v.optional(v.string()) });

function isCharacterSet(set: string): set is CharacterSet {
  return (CHARACTER_SETS as readonly string[]).includes(set);
}

// A recipe describes how to generate a value when writing; read back, a character set this client
// does not know is left out rather than failing the item (a recipe is never used for reading).
const recipe = v.looseObject({
  length: v.optional(count),
  characterSets: v.optional(
    v.pipe(
      v.array(v.string()),
      v.transform((sets) => sets.filter(isCharacterSet)),
    ),
  ),
  excludeCharacters: v.optional(v.string()),
});

const field = v.looseObject({
  id: v.string(),
  type: open<FieldType>(),
  purpose: v.optional(open<FieldPurpose>()),
  label: v.optional(v.string()),
  value: v.optional(v.string()),
  section: v.optional(v.looseObject({ id: zeroString })),
  generate: v.optional(v.boolean()),
  recipe: v.optional(recipe),
  entropy: v.optional(v.number()),
  totp: v.optional(v.string()),
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decoded length of canonical base64 text, or undefined when it is not base64. */
function base64Length(text: string): number | undefined {
  if (!BASE64.test(text)) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

// Inline content (`?inline_files=true`) must be base64 of exactly the declared size.
const file = v.pipe(
  v.looseObject({
    id,
    name: v.string(),
    size: count,
    section: v.optional(v.looseObject({ id: zeroString })),
    content_path: zeroString,
    content: v.optional(v.pipe(v.string(), v.regex(BASE64, 'expected base64 text'))),
  }),
  v.forward(
    v.check(
      (input) => input.content === undefined || base64Length(input.content) === input.size,
      'the inline content does not have the declared size',
    ),
    ['content'],
  ),
);

const fullItem = v.looseObject({
  ...summaryEntries,
  sections: v.optional(v.array(section)),
  fields: v.optional(v.array(field)),
  files: v.optional(v.array(file)),
});

const apiRequest = v.looseObject({
  requestId: id,
  timestamp: v.string(),
  action: open<ActivityAction>(),
  result: open<ActivityResult>(),
  actor: v.looseObject({
    id: zeroString,
    account: zeroString,
    jti: zeroString,
    userAgent: zeroString,
    requestIp: zeroString,
  }),
  resource: v.looseObject({
    type: open<'ITEM' | 'VAULT'>(),
    vault: v.looseObject({ id: zeroString }),
    item: v.optional(v.looseObject({ id: zeroString })),
    itemVersion: v.optional(count),
  }),
});

const serviceHealth = v.looseObject({
  service: v.string(),
  status: v.string(),
  message: v.optional(v.string()),
});

const health = v.looseObject({
  name: zeroString,
  version: zeroString,
  // A Go nil slice without omitempty is `null` on the wire.
  dependencies: v.pipe(
    v.optional(v.nullable(v.array(serviceHealth)), null),
    v.transform((list) => list ?? []),
  ),
});

/** One schema per answer the client reads; `list` answers are JSON arrays of the entry schema. */
export const ANSWER_SCHEMAS = {
  vault,
  vaults: v.array(vault),
  itemSummaries: v.array(summary),
  fullItem,
  file,
  files: v.array(file),
  activity: v.array(apiRequest),
  health,
} as const;
export type AnswerKind = keyof typeof ANSWER_SCHEMAS;
export type Answer<K extends AnswerKind> = v.InferOutput<(typeof ANSWER_SCHEMAS)[K]>;

/** Where in an answer the first problem is, and what it is: property names and indexes only. */
export interface AnswerProblem {
  readonly path: string;
  readonly problem: string;
  /** Further problems found besides the first. */
  readonly more: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: AnswerProblem };

/** Checks a parsed JSON body; the problem never quotes a value of the body (values may be secrets). */
export function checkAnswer<K extends AnswerKind>(kind: K, body: unknown): Checked<Answer<K>> {
  const result = v.safeParse(ANSWER_SCHEMAS[kind], body);
  if (result.success) return { ok: true, value: result.output };
  const [first, ...rest] = result.issues;
  return {
    ok: false,
    problem: {
      path: formatPath(first?.path),
      problem: first ? describeIssue(first) : 'does not match the schema',
      more: rest.length,
    },
  };
}

type Issue = v.GenericIssue;

// A path item's key is a schema property name or an array index, never text taken from the body:
// loose objects do not check (so never report) properties they do not know.
function formatPath(path: Issue['path']): string {
  if (!path || path.length === 0) return '(body)';
  let text = '';
  for (const [index, item] of path.entries()) {
    const key = item.key;
    if (typeof key === 'number') text += index === 0 ? `entries[${key}]` : `[${key}]`;
    else text += index === 0 ? String(key) : `.${String(key)}`;
  }
  return text;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  Object: 'an object',
  Array: 'an array',
  'Array | null': 'an array',
};

function describeIssue(issue: Issue): string {
  // Validation messages are the fixed texts given in the schemas above.
  if (issue.kind === 'validation') return issue.message;
  if (issue.type === 'loose_object' && issue.received === 'undefined') return 'missing';
  if (issue.type === 'custom') return `${issue.message}, got ${kindOf(issue.input)}`;
  const expected = issue.expected ?? 'another type';
  return `expected ${EXPECTED[expected] ?? expected}, got ${kindOf(issue.input)}`;
}

/** The JSON type of a value, never the value. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value === undefined) return 'nothing';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

// Compile-time guard: each schema's output, minus the index signature of its pass-through
// properties, is exactly the model. A property added to or changed in one and not the other
// fails `tsc`.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Known<T> = T extends string | number | boolean | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? Known<E>[]
    : T extends object
      ? { [K in keyof T as string extends K ? never : K]: Known<T[K]> }
      : T;
type Model<S extends v.GenericSchema> = Known<v.InferOutput<S>>;
const schemasMatchModels: [
  Exact<Model<typeof vault>, Vault>,
  Exact<Model<typeof summary>, ItemSummary>,
  Exact<Model<typeof fullItem>, FullItem>,
  Exact<Model<typeof field>, Field>,
  Exact<Model<typeof section>, Section>,
  Exact<Model<typeof recipe>, GeneratorRecipe>,
  Exact<Model<typeof file>, ItemFile>,
  Exact<Model<typeof apiRequest>, ApiRequest>,
  Exact<Model<typeof serviceHealth>, ServiceHealth>,
  Exact<Model<typeof health>, Health>,
] = [true, true, true, true, true, true, true, true, true, true];
void schemasMatchModels;
