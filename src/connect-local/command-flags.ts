// The flags of `op-kube connect-local` and its `token` and `server` commands: definitions only, so
// that listing or inferring commands loads none of connect-local's modules.
import { defineFlag, type FlagValues } from '../cli/flags.ts';

export const stateDirFlag = defineFlag({
  name: 'state-dir',
  kind: 'string',
  usage: 'directory holding the state, tokens, credentials and activity log',
  default: '.connect-local',
});

export const serveFlags = {
  port: defineFlag({
    name: 'port',
    kind: 'int',
    usage: 'port to listen on (0 picks a free one)',
    default: 8080,
  }),
  host: defineFlag({
    name: 'host',
    kind: 'string',
    usage: 'address to listen on',
    default: '127.0.0.1',
  }),
  data: defineFlag({
    name: 'data',
    kind: 'string',
    usage: 'YAML data file that seeds an empty state',
  }),
  stateDir: stateDirFlag,
  tlsCert: defineFlag({ name: 'tls-cert', kind: 'string', usage: 'PEM certificate: serve HTTPS' }),
  tlsKey: defineFlag({ name: 'tls-key', kind: 'string', usage: 'PEM private key for --tls-cert' }),
  adminPort: defineFlag({
    name: 'admin-port',
    kind: 'int',
    usage: 'serve fault controls on this port (off when unset); secret in <state-dir>/admin-secret',
  }),
  activityRetention: defineFlag({
    name: 'activity-retention',
    kind: 'int',
    usage: 'how many audited requests made with a valid token /v1/activity keeps',
    default: 10_000,
  }),
  activityAnonymousRetention: defineFlag({
    name: 'activity-anonymous-retention',
    kind: 'int',
    usage:
      'how many audited requests without a valid token /v1/activity keeps, apart, so that they ' +
      'cannot push out the others',
    default: 1000,
  }),
  maxInlineFileBytes: defineFlag({
    name: 'max-inline-file-bytes',
    kind: 'int',
    usage: 'largest file returned inline (?inline_files=true); larger ones answer 413',
    default: 1_048_576,
  }),
  maxBodyBytes: defineFlag({
    name: 'max-body-bytes',
    kind: 'int',
    usage: 'largest request body accepted; larger ones answer 413',
    default: 1_048_576,
  }),
  logLevel: defineFlag({
    name: 'log-level',
    kind: 'string',
    usage: 'debug, info, warn or error',
    default: 'info',
  }),
  tokenSecret: defineFlag({
    name: 'token-secret',
    kind: 'string',
    usage:
      'at start, put a token into this existing Secret ([namespace/]name; default namespace: ' +
      'POD_NAMESPACE, else the kubeconfig context) unless it holds one this server accepts',
  }),
  tokenSecretKey: defineFlag({
    name: 'token-secret-key',
    kind: 'string',
    usage: 'data key of the token in --token-secret',
    default: 'token',
  }),
  tokenVault: defineFlag({
    name: 'token-vault',
    kind: 'string',
    usage:
      'scope of the --token-secret token: vault name or id, optionally ,r ,w or ,rw (repeatable)',
    repeatable: true,
  }),
  tokenName: defineFlag({
    name: 'token-name',
    kind: 'string',
    usage: 'name of the --token-secret token (token list shows it)',
    default: 'bootstrap',
  }),
  kubeconfig: defineFlag({
    name: 'kubeconfig',
    kind: 'string',
    usage:
      'kubeconfig for --token-secret (default: KUBECONFIG, then in-cluster, then ~/.kube/config)',
  }),
};

export const createFlags = {
  stateDir: stateDirFlag,
  vault: defineFlag({
    name: 'vault',
    kind: 'string',
    usage: 'vault name or id, optionally ,r ,w or ,rw',
    repeatable: true,
  }),
  vaults: defineFlag({
    name: 'vaults',
    kind: 'string',
    usage: 'same as --vault',
    repeatable: true,
  }),
  expiresIn: defineFlag({
    name: 'expires-in',
    kind: 'string',
    usage: 'lifetime such as 90m, 12h, 30d or 1w2d',
  }),
};
export const listFlags = {
  stateDir: stateDirFlag,
  json: defineFlag({ name: 'json', kind: 'bool', usage: 'print JSON', default: false }),
};
export const revokeFlags = { stateDir: stateDirFlag };
export const renameFlags = {
  stateDir: stateDirFlag,
  name: defineFlag({ name: 'name', kind: 'string', usage: 'the new name' }),
};
export const initFlags = {
  stateDir: stateDirFlag,
  force: defineFlag({
    name: 'force',
    kind: 'bool',
    usage: 'replace existing credentials',
    default: false,
  }),
};

export type ServeFlags = FlagValues<typeof serveFlags>;
