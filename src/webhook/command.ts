// `op-kube webhook`: the mutating admission webhook; runs until SIGTERM.
import type { Command } from '../cli/command.ts';
import { createLogger } from '../cli/logger.ts';
import { ConfigError, ExitCode } from '../cli/errors.ts';
import { packageVersion } from '../cli/version.ts';
import { WebhookSettingError, parseWebhookConfig, webhookFlags } from './config.ts';

const DETAILS = `Pods in namespaces labelled secrets-injection=enabled that list containers in the
operator.1password.io/inject annotation start those containers through "op run", which resolves
op:// references in their environment. 1Password's injector arguments (-service-name=X,
-alsologtostderr, -v=N, a trailing 2>&1) are accepted unchanged; given only those (no
--tls-mode), the TLS is 1Password's (--tls-mode=onepassword: CA in memory, its configuration
secrets-injector-webhook-config, its RBAC; one replica).`;

export const webhookCommand: Command = {
  name: 'webhook',
  summary: 'serve the mutating admission webhook that injects secrets',
  flags: Object.values(webhookFlags),
  details: DETAILS,
  takesArguments: true,
  async run(flags, io) {
    const config = parseWebhookConfig(flags, io.env, packageVersion() ?? '0.0.0');
    const logger = createLogger('webhook', config.logLevel);
    for (const { argument, why } of config.ignored)
      logger.info({ argument }, `accepted without effect: ${why}`);
    const { runWebhook } = await import('./run.ts');
    const webhook = await runWebhook(config, io.env, logger).catch((error: unknown) => {
      // A setting found wrong at start exits as one refused while parsing: 1, naming the flag.
      throw error instanceof WebhookSettingError
        ? new ConfigError(error.setting, error.detail)
        : error;
    });
    const onSignal = (): void => void webhook.stop();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    await webhook.stopped;
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    logger.info('stopped');
    return ExitCode.ok;
  },
};
