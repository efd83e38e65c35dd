// Command-line flags parsed exactly as Go's `flag` package does, so Go-style Deployment args work unchanged.
import { ConfigError, HelpRequested, UsageError } from './errors.ts';
import { formatGoDuration, parseGoBool, parseGoDuration, parseGoInt } from './go-values.ts';

interface FlagKinds {
  string: string;
  bool: boolean;
  int: number;
  /** Milliseconds, written as a Go duration ("90s", "1h30m"). */
  duration: number;
}
export type FlagKind = keyof FlagKinds;
export type FlagValue = FlagKinds[FlagKind];

export interface FlagDefinition<K extends FlagKind = FlagKind> {
  readonly name: string;
  readonly kind: K;
  readonly usage: string;
  /** The value when the flag is not given; written here only, never again where it is read. */
  readonly default?: FlagKinds[K];
  /** Collects every occurrence instead of keeping the last. */
  readonly repeatable?: boolean;
  /**
   * Accepted for compatibility with 1Password's binaries but without effect here; the reason is
   * logged once at start-up.
   */
  readonly ignored?: string;
}

/** A single-valued flag with a default: after parsing its value is never undefined. */
export interface DefaultedFlag<K extends FlagKind = FlagKind> extends FlagDefinition<K> {
  readonly default: FlagKinds[K];
}

/** A flag that collects every occurrence into a list (empty when not given). */
export interface RepeatableFlag<K extends FlagKind = FlagKind> extends FlagDefinition<K> {
  readonly repeatable: true;
}

/**
 * Type-preserving constructor: a definition keeps its kind, and whether it has a default (or is
 * repeatable) decides whether reading it can give undefined.
 */
export function defineFlag<K extends FlagKind>(
  definition: FlagDefinition<K> & { readonly repeatable: true },
): RepeatableFlag<K>;
export function defineFlag<K extends FlagKind>(
  definition: FlagDefinition<K> & { readonly default: FlagKinds[K] },
): DefaultedFlag<K>;
export function defineFlag<K extends FlagKind>(definition: FlagDefinition<K>): FlagDefinition<K>;
export function defineFlag(definition: FlagDefinition): FlagDefinition {
  return definition;
}

/** What reading a flag gives: a list if repeatable, the kind's type if defaulted, else maybe undefined. */
export type FlagValueOf<F extends FlagDefinition> =
  F extends RepeatableFlag<infer K>
    ? readonly FlagKinds[K][]
    : F extends DefaultedFlag<infer K>
      ? FlagKinds[K]
      : F extends FlagDefinition<infer K>
        ? FlagKinds[K] | undefined
        : never;

/** A named set of flags read at once: each name maps to its flag's value, defaults applied. */
export type FlagValues<F extends Readonly<Record<string, FlagDefinition>>> = {
  readonly [N in keyof F]: FlagValueOf<F[N]>;
};

export interface ParsedFlags {
  /** Last value of each flag given, or its default; repeatable flags map to arrays. */
  readonly values: ReadonlyMap<string, FlagValue | readonly FlagValue[]>;
  /** Names of the flags that appeared on the command line. */
  readonly given: ReadonlySet<string>;
  /** Arguments after the first non-flag argument or after `--`. */
  readonly rest: readonly string[];
}

function convert(definition: FlagDefinition, raw: string): FlagValue {
  const invalid = (why: string): ConfigError =>
    new ConfigError(`--${definition.name}`, `invalid value ${JSON.stringify(raw)}: ${why}`);
  switch (definition.kind) {
    case 'string':
      return raw;
    case 'bool': {
      const value = parseGoBool(raw);
      if (value === undefined) throw invalid('expected true or false');
      return value;
    }
    case 'int': {
      const value = parseGoInt(raw);
      if (value === undefined) throw invalid('expected an integer');
      return value;
    }
    case 'duration': {
      const value = parseGoDuration(raw);
      if (value === undefined) throw invalid('expected a duration such as 30s, 10m or 1h30m');
      return value;
    }
  }
}

/**
 * Parses `args` against `definitions` with Go's rules: `-name` or `--name`; `-name=value` or the
 * value as the next argument; a bool flag takes no next argument (`-name`, `-name=false`);
 * parsing stops at the first non-flag argument, a lone `-`, or after `--`. With `interspersed`
 * (the style of `op` and other cobra CLIs, for op-kube's own subcommands) non-flag arguments are
 * collected into `rest` and parsing goes on.
 *
 * @throws UsageError for unknown flags, malformed syntax or a missing value (exit 2)
 * @throws ConfigError for a value the flag's kind rejects (exit 1)
 * @throws HelpRequested for `-h`/`-help` when the set does not define them
 */
export function parseFlags(
  definitions: readonly FlagDefinition[],
  args: readonly string[],
  options: { interspersed?: boolean } = {},
): ParsedFlags {
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const values = new Map<string, FlagValue | FlagValue[]>();
  const given = new Set<string>();
  for (const definition of definitions) {
    if (definition.repeatable) values.set(definition.name, []);
    else if (definition.default !== undefined) values.set(definition.name, definition.default);
  }

  const positional: string[] = [];
  let index = 0;
  while (index < args.length) {
    const arg = args[index] ?? '';
    if (arg.length < 2 || !arg.startsWith('-')) {
      if (!options.interspersed) break;
      positional.push(arg);
      index += 1;
      continue;
    }
    index += 1;
    if (arg === '--') break;

    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new UsageError(`bad flag syntax: ${arg}`);
    }
    const equals = body.indexOf('=');
    const name = equals === -1 ? body : body.slice(0, equals);
    let raw = equals === -1 ? undefined : body.slice(equals + 1);

    const definition = byName.get(name);
    if (!definition) {
      if (name === 'h' || name === 'help') throw new HelpRequested();
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    if (definition.kind === 'bool') {
      raw ??= 'true';
    } else if (raw === undefined) {
      if (index >= args.length) throw new UsageError(`flag needs an argument: -${name}`);
      raw = args[index] ?? '';
      index += 1;
    }

    const value = convert(definition, raw);
    given.add(name);
    const previous = values.get(name);
    if (definition.repeatable && Array.isArray(previous)) previous.push(value);
    else values.set(name, value);
  }
  return { values, given, rest: [...positional, ...args.slice(index)] };
}

function describeDefault(definition: FlagDefinition): string {
  const value = definition.default;
  if (value === undefined || value === '' || value === false) return '';
  const shown =
    definition.kind === 'duration' && typeof value === 'number'
      ? formatGoDuration(value)
      : typeof value === 'string'
        ? JSON.stringify(value)
        : String(value);
  return ` (default ${shown})`;
}

/** Go's `PrintDefaults` layout: the flag and its kind, then the usage and default indented below. */
export function formatFlagUsage(definitions: readonly FlagDefinition[]): string {
  return definitions
    .filter((definition) => definition.ignored === undefined)
    .map((definition) => {
      const placeholder = definition.kind === 'bool' ? '' : ` ${definition.kind}`;
      return `  --${definition.name}${placeholder}\n    \t${definition.usage}${describeDefault(definition)}`;
    })
    .join('\n');
}

/** The value of a single-valued flag, typed by its definition: its default when not given. */
export function flagValue<K extends FlagKind>(
  parsed: ParsedFlags,
  definition: DefaultedFlag<K>,
): FlagKinds[K];
export function flagValue<K extends FlagKind>(
  parsed: ParsedFlags,
  definition: FlagDefinition<K>,
): FlagKinds[K] | undefined;
export function flagValue(parsed: ParsedFlags, definition: FlagDefinition): FlagValue | undefined {
  const value = parsed.values.get(definition.name);
  if (Array.isArray(value)) return undefined;
  return (value as FlagValue | undefined) ?? definition.default;
}

/** Every value given for a repeatable flag, in order. */
export function flagValues<K extends FlagKind>(
  parsed: ParsedFlags,
  definition: FlagDefinition<K>,
): readonly FlagKinds[K][] {
  const value = parsed.values.get(definition.name);
  return Array.isArray(value) ? (value as FlagKinds[K][]) : [];
}

/** The flags given that are accepted without effect (`ignored`), each with the reason, in order. */
export function ignoredFlagsGiven(
  parsed: ParsedFlags,
  definitions: readonly FlagDefinition[],
): { readonly name: string; readonly why: string }[] {
  return definitions.flatMap((definition) =>
    definition.ignored !== undefined && parsed.given.has(definition.name)
      ? [{ name: definition.name, why: definition.ignored }]
      : [],
  );
}

/**
 * Reads a named set of flags into one typed object (Temporal's options → with defaults): a flag
 * with a default is never undefined here, so no caller writes the default again.
 */
export function readFlags<F extends Readonly<Record<string, FlagDefinition>>>(
  parsed: ParsedFlags,
  definitions: F,
): FlagValues<F> {
  return Object.fromEntries(
    Object.entries(definitions).map(([key, definition]) => [
      key,
      definition.repeatable ? flagValues(parsed, definition) : flagValue(parsed, definition),
    ]),
  ) as FlagValues<F>;
}
