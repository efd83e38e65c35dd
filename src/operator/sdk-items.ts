// Service-account mode: items through 1Password's SDK (@1password/sdk), mapped to Connect's item
// model so the one mapper turns them into Secret data, as 1Password's operator maps its SDK items.
//
// The SDK (a 14 MB WASM core, ~38 MB of RSS once loaded) is imported only when this mode is used:
// every import from it here is type-only, and loadServiceAccountClient() imports it at start.
import type {
  Client,
  FileAttributes,
  Item,
  ItemCategory as SdkItemCategory,
  ItemFieldType,
  ItemOverview,
  VaultOverview,
  VaultType as SdkVaultType,
} from '@1password/sdk';
import type { Field, FullItem, ItemCategory, ItemFile, Vault } from '../connect/index.ts';
import { ConnectError, isConnectError, looksLikeId, pickOldestByTitle } from '../connect/index.ts';
import type { ItemBackend } from './item-source.ts';

/** The part of the SDK's Client this backend uses (reads only): a fake in tests fits it too. */
export interface SdkClient {
  readonly items: Pick<Client['items'], 'get' | 'list'> & {
    readonly files: Pick<Client['items']['files'], 'read'>;
  };
  readonly vaults: Pick<Client['vaults'], 'list'>;
}

/** As 1Password's operator names itself to the SDK (`1password-operator`), so audit logs tell. */
export const INTEGRATION_NAME = 'op-kube-operator';

/**
 * Imports the SDK and signs in with the service-account token. A token the SDK cannot read fails
 * here, without network; a valid one is checked against 1Password.com.
 * @throws ConnectError (Unauthorized) with the SDK's message, which never holds the token
 */
export async function loadServiceAccountClient(token: string, version: string): Promise<SdkClient> {
  const sdk = await import('@1password/sdk');
  try {
    return await sdk.createClient({
      auth: token,
      integrationName: INTEGRATION_NAME,
      integrationVersion: version,
    });
  } catch (error) {
    throw sdkError(error, 'createClient', '/v1/vaults', token);
  }
}

const SDK_METHOD = 'SDK';
// Connect's templated paths, so classifyFailure tells a missing item from a missing vault.
const VAULTS = '/v1/vaults';
const ITEMS = '/v1/vaults/{vault}/items';
const ITEM = '/v1/vaults/{vault}/items/{item}';
const FILE = '/v1/vaults/{vault}/items/{item}/files/{file}/content';

/**
 * SDK messages carry no status; these are the ones that mean "not there" (the SDK's core says
 * "item couldn't be found", "vault couldn't be found", "resource not found").
 */
const NOT_FOUND =
  /not found|does not exist|doesn't exist|no such|could not find|couldn't find|could(?: not|n't) be found/i;
/**
 * Input the SDK refuses before any request, e.g. "invalid user input: encountered the following
 * errors: the provided ID is not a valid UUID" for a 26-character title read as an id: a 400, so
 * the id lookup falls back to the title as 1Password's operator does (not Unavailable, retried).
 */
const INVALID_INPUT =
  /invalid user input|bad input passed by the user|not a valid uuid|does not refer to a valid uuid/i;
const MAX_MESSAGE = 300;

/** Any SDK failure as a ConnectError: a reason for conditions and metrics, never the token. */
export function sdkError(
  error: unknown,
  operation: string,
  endpoint: string,
  token?: string,
): ConnectError {
  if (isConnectError(error)) return error;
  const name = error instanceof Error ? error.constructor.name : '';
  let message = error instanceof Error ? error.message : String(error);
  if (token) message = message.split(token).join('[token]');
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
  let status = 0;
  if (name === 'RateLimitExceededError') status = 429;
  else if (name === 'AuthExpiredError' || /invalid service account token/i.test(message))
    status = 401;
  else if (NOT_FOUND.test(message)) status = 404;
  else if (INVALID_INPUT.test(message)) status = 400;
  else if (/forbidden|permission|not authori[sz]ed|access denied/i.test(message)) status = 403;
  // Status 0 is "no answer": Unavailable, retried by the work queue and the poller.
  return new ConnectError(
    { status, method: SDK_METHOD, endpoint },
    `1Password SDK ${operation}: ${message}`,
  );
}

const FIELD_TYPES: Readonly<Record<`${ItemFieldType}`, Field['type']>> = {
  Text: 'STRING',
  Concealed: 'CONCEALED',
  CreditCardType: 'CREDIT_CARD_TYPE',
  CreditCardNumber: 'CREDIT_CARD_NUMBER',
  Phone: 'PHONE',
  Url: 'URL',
  Totp: 'OTP',
  Email: 'EMAIL',
  Reference: 'REFERENCE',
  SshKey: 'SSHKEY',
  Menu: 'MENU',
  MonthYear: 'MONTH_YEAR',
  Address: 'ADDRESS',
  Date: 'DATE',
  Unsupported: 'UNSUPPORTED',
};

const CATEGORIES: Readonly<Record<`${SdkItemCategory}`, FullItem['category']>> = {
  Login: 'LOGIN',
  SecureNote: 'SECURE_NOTE',
  CreditCard: 'CREDIT_CARD',
  CryptoWallet: 'CRYPTO_WALLET',
  Identity: 'IDENTITY',
  Password: 'PASSWORD',
  Document: 'DOCUMENT',
  ApiCredentials: 'API_CREDENTIAL',
  BankAccount: 'BANK_ACCOUNT',
  Database: 'DATABASE',
  DriverLicense: 'DRIVER_LICENSE',
  Email: 'EMAIL_ACCOUNT',
  MedicalRecord: 'MEDICAL_RECORD',
  Membership: 'MEMBERSHIP',
  OutdoorLicense: 'OUTDOOR_LICENSE',
  Passport: 'PASSPORT',
  Rewards: 'REWARD_PROGRAM',
  Router: 'WIRELESS_ROUTER',
  Server: 'SERVER',
  SshKey: 'SSH_KEY',
  SocialSecurityNumber: 'SOCIAL_SECURITY_NUMBER',
  SoftwareLicense: 'SOFTWARE_LICENSE',
  Person: 'PERSON',
  Unsupported: 'UNSUPPORTED',
} satisfies Record<`${SdkItemCategory}`, ItemCategory | (string & NonNullable<unknown>)>;

const VAULT_TYPES: Readonly<Record<`${SdkVaultType}`, Vault['type']>> = {
  personal: 'PERSONAL',
  everyone: 'EVERYONE',
  transfer: 'TRANSFER',
  userCreated: 'USER_CREATED',
  unsupported: 'UNSUPPORTED',
};

/** Dates cross the WASM boundary as Date or as ISO text, depending on the SDK's build. */
function iso(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

function file(
  vaultId: string,
  itemId: string,
  attributes: FileAttributes,
  sectionId?: string,
): ItemFile {
  return {
    id: attributes.id,
    name: attributes.name,
    size: attributes.size,
    ...(sectionId ? { section: { id: sectionId } } : {}),
    content_path: `/v1/vaults/${vaultId}/items/${itemId}/files/${attributes.id}/content`,
  };
}

/**
 * An SDK item in Connect's model, as 1Password's operator maps it (model.Item.FromSDKItem):
 * websites are URLs (the first one primary), every field keyed by its title whatever its section,
 * item files then a Document's document as files. The notes are not a field in the SDK and
 * 1Password's operator leaves them out: so does this (Connect mode has `notesPlain`).
 */
export function fromSdkItem(item: Item): FullItem {
  const files = item.files.map((entry) =>
    file(item.vaultId, item.id, entry.attributes, entry.sectionId),
  );
  if (item.category === ('Document' as SdkItemCategory) && item.document) {
    files.push(file(item.vaultId, item.id, item.document));
  }
  return {
    id: item.id,
    title: item.title,
    vault: { id: item.vaultId },
    category: CATEGORIES[item.category] ?? item.category,
    urls: item.websites.map((website, index) => ({
      href: website.url,
      ...(website.label ? { label: website.label } : {}),
      primary: index === 0,
    })),
    tags: [...item.tags],
    version: item.version,
    createdAt: iso(item.createdAt),
    updatedAt: iso(item.updatedAt),
    sections: item.sections.map((section) => ({ id: section.id, label: section.title })),
    fields: item.fields.map((field) => ({
      id: field.id,
      type: FIELD_TYPES[field.fieldType] ?? field.fieldType,
      label: field.title,
      value: field.value,
      ...(field.sectionId ? { section: { id: field.sectionId } } : {}),
      ...(field.details?.type === 'Otp' && field.details.content.code
        ? { totp: field.details.content.code }
        : {}),
    })),
    files,
  };
}

export function fromSdkVault(vault: VaultOverview): Vault {
  return {
    id: vault.id,
    name: vault.title,
    ...(vault.description ? { description: vault.description } : {}),
    attributeVersion: vault.attributeVersion,
    contentVersion: vault.contentVersion,
    items: vault.activeItemCount,
    type: VAULT_TYPES[vault.vaultType] ?? vault.vaultType,
    createdAt: iso(vault.createdAt),
    updatedAt: iso(vault.updatedAt),
  };
}

/** An item the SDK's list names whose version is not known (it changed since the last read). */
export const UNKNOWN_VERSION = -1;

interface SeenItem {
  readonly version: number;
  readonly updatedAt: string;
  readonly files: ReadonlyMap<string, FileAttributes>;
}

/** What the read and poll views of one client share: what each item looked like when last read. */
class SdkState {
  readonly seen = new Map<string, SeenItem>();
  onCall: ((call: SdkCallInfo) => void) | undefined;
}

/** One SDK call, reported for metrics: the HTTP-like status its outcome maps to (0: no answer). */
export interface SdkCallInfo {
  readonly operation: string;
  readonly status: number;
  readonly durationMs: number;
}

export interface SdkItemBackendOptions {
  /** Per call; the SDK has no timeout of its own and a hung call must not stall a poll. */
  readonly timeoutMs?: number;
  /** Told of every call (and shared with the views withTimeout makes). */
  readonly onCall?: (call: SdkCallInfo) => void;
}

/**
 * ItemSource's backend over the SDK. Change detection: `vaults.list` (one call per poll; vault
 * overviews carry contentVersion as Connect's do), then `items.list` once per watched vault whose
 * contentVersion moved. Item overviews carry no version, only updatedAt: an item whose updatedAt
 * is the one of its last read keeps that read's version, any other is reported changed
 * (UNKNOWN_VERSION) and read again with `items.get` (plus `items.files.read` per file).
 */
export class SdkItemBackend implements ItemBackend {
  readonly #client: SdkClient;
  readonly #timeoutMs: number;
  readonly #state: SdkState;

  constructor(client: SdkClient, options: SdkItemBackendOptions = {}, state = new SdkState()) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#state = state;
    if (options.onCall) this.#state.onCall = options.onCall;
  }

  /** The same client and knowledge of items, with another per-call timeout (for the poller). */
  withTimeout(timeoutMs: number): SdkItemBackend {
    return new SdkItemBackend(this.#client, { timeoutMs }, this.#state);
  }

  async listVaults(): Promise<readonly Vault[]> {
    const vaults = await this.#call('vaults.list', VAULTS, () => this.#client.vaults.list());
    return vaults.map(fromSdkVault);
  }

  async listItems(vaultId: string): Promise<readonly { id: string; version: number }[]> {
    const overviews = await this.#call('items.list', ITEMS, () => this.#client.items.list(vaultId));
    return overviews.map((overview) => ({ id: overview.id, version: this.#versionOf(overview) }));
  }

  async getItem(vaultId: string, itemId: string): Promise<FullItem> {
    const item = await this.#call('items.get', ITEM, () => this.#client.items.get(vaultId, itemId));
    if (item.id !== itemId || item.vaultId !== vaultId) {
      throw new ConnectError(
        { status: 200, reason: 'InvalidResponse', method: SDK_METHOD, endpoint: ITEM },
        '1Password SDK items.get: the answer is another item than the one asked for',
      );
    }
    const mapped = fromSdkItem(item);
    const files = new Map<string, FileAttributes>(
      item.files.map((entry) => [entry.attributes.id, entry.attributes]),
    );
    if (item.document) files.set(item.document.id, item.document);
    this.#state.seen.set(`${vaultId}/${itemId}`, {
      version: item.version,
      updatedAt: mapped.updatedAt,
      files,
    });
    return mapped;
  }

  async getFileContent(
    vaultId: string,
    itemId: string,
    fileId: string,
    options: { readonly expectedSize?: number } = {},
  ): Promise<Buffer> {
    const known = this.#state.seen.get(`${vaultId}/${itemId}`)?.files.get(fileId);
    const attributes = known ?? { id: fileId, name: '', size: options.expectedSize ?? 0 };
    const content = await this.#call('items.files.read', FILE, () =>
      this.#client.items.files.read(vaultId, itemId, attributes),
    );
    const buffer = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    if (options.expectedSize !== undefined && buffer.length !== options.expectedSize) {
      throw new ConnectError(
        { status: 200, reason: 'InvalidResponse', method: SDK_METHOD, endpoint: FILE },
        `1Password SDK items.files.read: ${buffer.length} bytes, the item says ${options.expectedSize}`,
      );
    }
    return buffer;
  }

  /**
   * 1Password's operator's rules in service-account mode (items.go, sdk.go): the vault by title
   * first (any case, the oldest of several), else an id-like reference as an id; the item by id
   * when it looks like one and that read succeeds, else by title (exact case, the oldest).
   */
  async resolveItem(vaultIdOrTitle: string, itemIdOrTitle: string): Promise<FullItem> {
    const vaultId = await this.#vaultId(vaultIdOrTitle);
    if (looksLikeId(itemIdOrTitle)) {
      try {
        return await this.getItem(vaultId, itemIdOrTitle);
      } catch (error) {
        if (!isConnectError(error) || error.reason === 'Unavailable') throw error;
      }
    }
    const overviews = await this.#call('items.list', ITEMS, () => this.#client.items.list(vaultId));
    const exact = overviews.filter((overview) => overview.title === itemIdOrTitle);
    const item = pickOldestByTitle(
      exact.map((overview) => ({
        id: overview.id,
        title: overview.title,
        createdAt: iso(overview.createdAt),
      })),
      itemIdOrTitle,
      (candidate) => candidate.title,
    );
    if (item === undefined) {
      throw new ConnectError(
        { status: 404, method: SDK_METHOD, endpoint: ITEM },
        `item ${JSON.stringify(itemIdOrTitle)} not found in vault ${JSON.stringify(vaultIdOrTitle)}`,
      );
    }
    return this.getItem(vaultId, item.id);
  }

  async #vaultId(vaultIdOrTitle: string): Promise<string> {
    const vaults = await this.listVaults();
    const vault = pickOldestByTitle(vaults, vaultIdOrTitle, (candidate) => candidate.name);
    if (vault) return vault.id;
    if (looksLikeId(vaultIdOrTitle)) return vaultIdOrTitle;
    throw new ConnectError(
      { status: 404, method: SDK_METHOD, endpoint: VAULTS },
      `vault ${JSON.stringify(vaultIdOrTitle)} not found`,
    );
  }

  #versionOf(overview: ItemOverview): number {
    const seen = this.#state.seen.get(`${overview.vaultId}/${overview.id}`);
    return seen && seen.updatedAt === iso(overview.updatedAt) ? seen.version : UNKNOWN_VERSION;
  }

  async #call<T>(operation: string, endpoint: string, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConnectError(
              { status: 0, method: SDK_METHOD, endpoint },
              `1Password SDK ${operation}: no answer within ${this.#timeoutMs} ms`,
            ),
          ),
        this.#timeoutMs,
      );
    });
    const started = performance.now();
    const report = (status: number): void =>
      this.#state.onCall?.({ operation, status, durationMs: performance.now() - started });
    try {
      const result = await Promise.race([call(), timeout]);
      report(200);
      return result;
    } catch (error) {
      const failure = sdkError(error, operation, endpoint);
      report(failure.status);
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }
}
