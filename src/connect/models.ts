// The Connect REST API's wire types (spec 1.7–1.8), shared by the client and connect-local.

export const CONNECT_API_VERSION = '1.7.3';
/** Response header every Connect answer carries; the Go SDK refuses file calls without it. */
export const CONNECT_VERSION_HEADER = '1Password-Connect-Version';

/**
 * A string enum as read from Connect: one of the values listed here, or one a newer Connect added.
 * Clients accept and pass on unknown values (docs/decisions/010); servers send the listed ones.
 */
export type OpenEnum<T extends string> = T | (string & NonNullable<unknown>);

export const VAULT_TYPES = ['USER_CREATED', 'PERSONAL', 'EVERYONE', 'TRANSFER'] as const;
export type VaultType = (typeof VAULT_TYPES)[number];

export interface Vault {
  id: string;
  name: string;
  description?: string;
  attributeVersion: number;
  /** Increases whenever anything in the vault changes. */
  contentVersion: number;
  /** Number of items. */
  items: number;
  type: OpenEnum<VaultType>;
  createdAt: string;
  updatedAt: string;
}

export const ITEM_CATEGORIES = [
  'LOGIN',
  'PASSWORD',
  'API_CREDENTIAL',
  'SERVER',
  'DATABASE',
  'CREDIT_CARD',
  'MEMBERSHIP',
  'PASSPORT',
  'SOFTWARE_LICENSE',
  'OUTDOOR_LICENSE',
  'SECURE_NOTE',
  'WIRELESS_ROUTER',
  'BANK_ACCOUNT',
  'DRIVER_LICENSE',
  'IDENTITY',
  'REWARD_PROGRAM',
  'DOCUMENT',
  'EMAIL_ACCOUNT',
  'SOCIAL_SECURITY_NUMBER',
  'MEDICAL_RECORD',
  'SSH_KEY',
  'CUSTOM',
] as const;
export type ItemCategory = (typeof ITEM_CATEGORIES)[number];

export const FIELD_TYPES = [
  'STRING',
  'EMAIL',
  'CONCEALED',
  'URL',
  'OTP',
  'DATE',
  'MONTH_YEAR',
  'MENU',
  'ADDRESS',
  'CREDIT_CARD_NUMBER',
  'CREDIT_CARD_TYPE',
  'GENDER',
  'PHONE',
  'REFERENCE',
  'FILE',
  'SSHKEY',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const FIELD_PURPOSES = ['', 'USERNAME', 'PASSWORD', 'NOTES'] as const;
export type FieldPurpose = (typeof FIELD_PURPOSES)[number];

export interface ItemUrl {
  href: string;
  label?: string;
  primary?: boolean;
}

export interface ItemSummary {
  id: string;
  title: string;
  vault: { id: string };
  category: OpenEnum<ItemCategory>;
  urls?: ItemUrl[];
  favorite?: boolean;
  tags?: string[];
  /** Increases on every change of the item. */
  version: number;
  state?: OpenEnum<'ARCHIVED' | 'DELETED'>;
  createdAt: string;
  updatedAt: string;
  lastEditedBy?: string;
}

export interface Section {
  id: string;
  label?: string;
}

export const CHARACTER_SETS = ['LETTERS', 'DIGITS', 'SYMBOLS'] as const;
export type CharacterSet = (typeof CHARACTER_SETS)[number];

export interface GeneratorRecipe {
  length?: number;
  characterSets?: CharacterSet[];
  excludeCharacters?: string;
}

export interface Field {
  id: string;
  type: OpenEnum<FieldType>;
  purpose?: OpenEnum<FieldPurpose>;
  label?: string;
  value?: string;
  section?: { id: string };
  generate?: boolean;
  recipe?: GeneratorRecipe;
  entropy?: number;
  /** The current one-time code, for OTP fields. */
  totp?: string;
}

export interface ItemFile {
  id: string;
  name: string;
  size: number;
  section?: { id: string };
  /** `/v1/vaults/{v}/items/{i}/files/{f}/content`, snake case as on the wire. */
  content_path: string;
  /** Base64, only when requested inline. */
  content?: string;
}

export interface FullItem extends ItemSummary {
  sections?: Section[];
  fields?: Field[];
  files?: ItemFile[];
}

export type ActivityAction = 'READ' | 'CREATE' | 'UPDATE' | 'DELETE';
export type ActivityResult = 'SUCCESS' | 'DENY';

/** One audited API request (`GET /v1/activity`). */
export interface ApiRequest {
  requestId: string;
  timestamp: string;
  action: OpenEnum<ActivityAction>;
  result: OpenEnum<ActivityResult>;
  actor: { id: string; account: string; jti: string; userAgent: string; requestIp: string };
  resource: {
    type: OpenEnum<'ITEM' | 'VAULT'>;
    vault: { id: string };
    item?: { id: string };
    itemVersion?: number;
  };
}

export interface ServiceHealth {
  service: string;
  status: string;
  message?: string;
}

export interface Health {
  name: string;
  version: string;
  dependencies: ServiceHealth[];
}

/** The JSON body of every Connect error response. */
export interface ErrorBody {
  status: number;
  message: string;
}

const ID_PATTERN = /^[a-z0-9]{26}$/;

/** Connect ids are 26 characters of `[a-z0-9]`; anything else is a title to look up. */
export function looksLikeId(value: string): boolean {
  return ID_PATTERN.test(value);
}
