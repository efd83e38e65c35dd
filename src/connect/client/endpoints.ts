// Connect's endpoints as path templates, and their expansion into request paths with encoded segments.

export const ENDPOINTS = {
  vaults: '/v1/vaults',
  vault: '/v1/vaults/{vault}',
  items: '/v1/vaults/{vault}/items',
  item: '/v1/vaults/{vault}/items/{item}',
  files: '/v1/vaults/{vault}/items/{item}/files',
  file: '/v1/vaults/{vault}/items/{item}/files/{file}',
  fileContent: '/v1/vaults/{vault}/items/{item}/files/{file}/content',
  activity: '/v1/activity',
  heartbeat: '/heartbeat',
  health: '/health',
} as const;
export type Endpoint = (typeof ENDPOINTS)[keyof typeof ENDPOINTS];

type ParamsOf<T extends string> = T extends `${string}{${infer Name}}${infer Rest}`
  ? Name | ParamsOf<Rest>
  : never;
export type EndpointParams<E extends Endpoint> = Readonly<Record<ParamsOf<E>, string>>;

/**
 * Fills in an endpoint's `{params}` and appends the query (undefined values left out). Segments
 * are percent-encoded, so an id can never reach another route; an empty or dot segment would
 * (`/v1/vaults/` is the vault list) and is refused as a programming error.
 */
export function expandEndpoint<E extends Endpoint>(
  endpoint: E,
  params: EndpointParams<E>,
  query: Readonly<Record<string, string | number | boolean | undefined>> = {},
): string {
  const values: Readonly<Record<string, string>> = params;
  const path = endpoint.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined || value === '' || value === '.' || value === '..') {
      throw new RangeError(`${endpoint}: invalid {${name}} ${JSON.stringify(value ?? null)}`);
    }
    return encodeURIComponent(value);
  });
  // encodeURIComponent writes spaces as %20, which every Connect server decodes (`+` is not universal).
  const search = Object.entries(query)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return search === '' ? path : `${path}?${search}`;
}
