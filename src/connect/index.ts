// The public surface of src/connect: the Connect client, its errors, the wire types and filter helpers.
export {
  ConnectClient,
  type ActivityPage,
  type ConnectClientOptions,
  type FileOptions,
} from './client/client.ts';
export type { BackoffOptions } from './client/backoff.ts';
export type { ActivityRange } from './client/content-range.ts';
export type { Endpoint } from './client/endpoints.ts';
export type { CallInfo, HttpMethod } from './client/http.ts';
export type { NewField, NewItem, PatchOperation } from './client/item-writes.ts';
export { pickOldestByTitle } from './client/lookup.ts';
export {
  CONNECT_ERROR_REASONS,
  ConnectError,
  isConnectError,
  reasonForStatus,
  type ConnectErrorInit,
  type ConnectErrorReason,
} from './errors.ts';
export * from './filter.ts';
export * from './models.ts';
