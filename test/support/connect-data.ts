// connect-local data files for tests, written from objects: startConnectLocal's `data` YAML.
import yaml from 'js-yaml';

export interface DataField {
  readonly label: string;
  readonly value: string;
  readonly purpose?: string;
  readonly type?: string;
  readonly section?: string;
}

export interface DataItem {
  readonly title: string;
  readonly id?: string;
  readonly category?: string;
  readonly urls?: readonly {
    readonly href: string;
    readonly label?: string;
    readonly primary?: boolean;
  }[];
  readonly tags?: readonly string[];
  readonly fields?: readonly DataField[];
  readonly files?: readonly { readonly name: string; readonly content: string }[];
}

export interface DataVault {
  readonly name: string;
  readonly id?: string;
  readonly items: readonly DataItem[];
}

/** The YAML text of a data file holding `vaults`. */
export function dataFile(...vaults: DataVault[]): string {
  return yaml.dump({ vaults });
}

/** An item whose one field is `password`; `purpose` or `type` describe that field. */
export function passwordItem(
  title: string,
  value: string,
  { id, ...field }: { id?: string; purpose?: string; type?: string } = {},
): DataItem {
  return {
    title,
    ...(id === undefined ? {} : { id }),
    fields: [{ label: 'password', value, ...field }],
  };
}
