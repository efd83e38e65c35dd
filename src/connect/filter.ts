// The SCIM-like `attr op "value"` filters Connect accepts on vault and item lists.
import { OpKubeError } from '../kube/errors.ts';

export const FILTER_ATTRIBUTES = ['title', 'name', 'tag'] as const;
export type FilterAttribute = (typeof FILTER_ATTRIBUTES)[number];
export const FILTER_OPERATORS = ['eq', 'co'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface Filter {
  readonly attribute: FilterAttribute;
  readonly operator: FilterOperator;
  readonly value: string;
}

export class FilterSyntaxError extends OpKubeError<'InvalidFilter'> {
  override readonly name = 'FilterSyntaxError';

  constructor(message: string) {
    super('InvalidFilter', message);
  }
}

// Clients do not escape quotes inside the value, so the value runs to the last quote.
const FILTER_SYNTAX = /^\s*([A-Za-z]+)\s+([A-Za-z]+)\s+"(.*)"\s*$/s;

/** Parses one filter expression; attribute and operator names are case-insensitive. */
export function parseFilter(text: string): Filter {
  const match = FILTER_SYNTAX.exec(text);
  if (!match) {
    throw new FilterSyntaxError(`invalid filter ${JSON.stringify(text)}: expected attr op "value"`);
  }
  const attribute = (match[1] ?? '').toLowerCase();
  const operator = (match[2] ?? '').toLowerCase();
  if (!(FILTER_ATTRIBUTES as readonly string[]).includes(attribute)) {
    throw new FilterSyntaxError(
      `invalid filter attribute ${JSON.stringify(match[1])}: expected one of ${FILTER_ATTRIBUTES.join(', ')}`,
    );
  }
  if (!(FILTER_OPERATORS as readonly string[]).includes(operator)) {
    throw new FilterSyntaxError(
      `unsupported filter operator ${JSON.stringify(match[2])}: expected one of ${FILTER_OPERATORS.join(', ')}`,
    );
  }
  return {
    attribute: attribute as FilterAttribute,
    operator: operator as FilterOperator,
    value: match[3] ?? '',
  };
}

export function formatFilter(filter: Filter): string {
  return `${filter.attribute} ${filter.operator} "${filter.value}"`;
}

/** Case-insensitive comparison, as the real server matches in practice. */
export function matchesFilter(filter: Filter, candidates: readonly string[]): boolean {
  const wanted = filter.value.toLowerCase();
  return candidates.some((candidate) => {
    const actual = candidate.toLowerCase();
    return filter.operator === 'eq' ? actual === wanted : actual.includes(wanted);
  });
}
