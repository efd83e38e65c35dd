// The parts of a pod the mutation reads, checked before it reads them: the apiserver sends well-typed pods, anyone else who reaches /inject may send anything.
import type { V1Pod } from '@kubernetes/client-node';
import {
  INIT_FIRST_ANNOTATION,
  INJECT_ANNOTATION,
  STATUS_ANNOTATION,
  VERSION_ANNOTATION,
} from './annotations.ts';
import { OP_BIN_VOLUME, injectionTargets } from './mutate.ts';

export type PodShape =
  /** Every part the mutation will read has the type it expects; the rest was not looked at. */
  | { readonly kind: 'readable'; readonly pod: V1Pod }
  /** Each problem names a path and the type expected there, never a value (values may be secrets). */
  | { readonly kind: 'unreadable'; readonly problems: readonly string[] };

/** Enough to fix a hand-written pod; a generated one with thousands of faults gets a count. */
export const MAX_PROBLEMS_LISTED = 10;

type Json = Readonly<Record<string, unknown>>;

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Records what is wrong where. Null counts as absent for optional lists and objects: Go's encoder
 * writes an empty list as null (a pod with only init containers arrives with "containers": null)
 * and Go reads null back as absent, so the apiserver would too.
 */
class Checker {
  readonly problems: string[] = [];

  #expected(path: string, expected: string, value: unknown): void {
    this.problems.push(
      value === undefined
        ? `${path} is missing (it must be ${expected})`
        : `${path} must be ${expected}, not ${typeOf(value)}`,
    );
  }

  optionalObject(path: string, value: unknown): Json | undefined {
    if (value === undefined || value === null) return undefined;
    if (isRecord(value)) return value;
    this.#expected(path, 'an object', value);
    return undefined;
  }

  optionalList(path: string, value: unknown): readonly unknown[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (Array.isArray(value)) return value as unknown[];
    this.#expected(path, 'an array', value);
    return undefined;
  }

  /** A list of objects, each given to `each` with its path. */
  optionalObjects(path: string, value: unknown, each: (path: string, entry: Json) => void): void {
    this.optionalList(path, value)?.forEach((entry, index) => {
      const at = `${path}[${index}]`;
      if (isRecord(entry)) each(at, entry);
      else this.#expected(at, 'an object', entry);
    });
  }

  optionalStrings(path: string, value: unknown): void {
    this.optionalList(path, value)?.forEach((entry, index) => {
      if (typeof entry !== 'string') this.#expected(`${path}[${index}]`, 'a string', entry);
    });
  }

  string(path: string, value: unknown): value is string {
    if (typeof value === 'string') return true;
    this.#expected(path, 'a string', value);
    return false;
  }

  optionalString(path: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    return this.string(path, value) ? value : undefined;
  }
}

/**
 * Checks, in the order the mutation reads them, only the parts it reads: its annotations, and
 * only when they ask for injection, the containers, the listed containers' command, env, envFrom
 * and mounts, and the volumes. A pod the mutation would leave alone is readable whatever else it
 * holds; what it holds is the apiserver's to judge.
 */
export function checkPodShape(object: Json): PodShape {
  const check = new Checker();
  const metadata = check.optionalObject('metadata', object.metadata);
  const annotations = check.optionalObject('metadata.annotations', metadata?.annotations);
  const annotation = (key: string): string | undefined =>
    check.optionalString(`metadata.annotations[${JSON.stringify(key)}]`, annotations?.[key]);
  const inject = annotation(INJECT_ANNOTATION);
  const status = annotation(STATUS_ANNOTATION);
  if (check.problems.length > 0) return unreadable(check.problems);
  const targets = injectionTargets(inject, status);
  if (targets.kind === 'skip') return readable(object);

  annotation(VERSION_ANNOTATION);
  annotation(INIT_FIRST_ANNOTATION);
  const spec = check.optionalObject('spec', object.spec);
  const container = (path: string, entry: Json): void => {
    if (!check.string(`${path}.name`, entry.name) || !targets.names.includes(entry.name)) return;
    check.optionalStrings(`${path}.command`, entry.command);
    // Read when the command is to come from the image (--resolve-entrypoints).
    check.optionalStrings(`${path}.args`, entry.args);
    check.optionalString(`${path}.image`, entry.image);
    check.optionalObjects(`${path}.env`, entry.env, (at, variable) => {
      check.string(`${at}.name`, variable.name);
    });
    check.optionalList(`${path}.envFrom`, entry.envFrom);
    check.optionalObjects(`${path}.volumeMounts`, entry.volumeMounts, (at, mount) => {
      check.string(`${at}.name`, mount.name);
      check.string(`${at}.mountPath`, mount.mountPath);
    });
  };
  check.optionalObjects('spec.initContainers', spec?.initContainers, container);
  check.optionalObjects('spec.containers', spec?.containers, container);
  check.optionalObjects('spec.volumes', spec?.volumes, (at, volume) => {
    if (check.string(`${at}.name`, volume.name) && volume.name === OP_BIN_VOLUME) {
      check.optionalObject(`${at}.emptyDir`, volume.emptyDir);
    }
  });
  return check.problems.length > 0 ? unreadable(check.problems) : readable(object);
}

// Every V1Pod field is optional, so TypeScript takes any object for one; the checks above are what
// make that true for every part the mutation goes on to read.
function readable(pod: V1Pod): PodShape {
  return { kind: 'readable', pod };
}

function unreadable(problems: readonly string[]): PodShape {
  const listed = problems.slice(0, MAX_PROBLEMS_LISTED);
  const more = problems.length - listed.length;
  return {
    kind: 'unreadable',
    problems: more > 0 ? [...listed, `and ${more} more problems`] : listed,
  };
}
