// `op-kube operator`: parses 1Password's configuration, then runs until SIGTERM or lost leadership.
import type { Command } from '../cli/command.ts';
import { consoleDestination, createLogger } from '../cli/logger.ts';
import { ExitCode } from '../cli/errors.ts';
import { operatorFlags, parseOperatorConfig } from './config.ts';

const DETAILS = `Environment (as 1Password's operator): OP_CONNECT_HOST, OP_CONNECT_TOKEN (Connect
mode), or OP_SERVICE_ACCOUNT_TOKEN (service-account mode, through 1Password's SDK; refused with
both Connect variables), WATCH_NAMESPACE (comma list; empty: all), POLLING_INTERVAL (whole seconds, 600; not a number:
600 with a warning), AUTO_RESTART (true/false in any case, false), MANAGE_CONNECT (must be
false), SSL_CERT_FILE (extra CA for Connect over HTTPS).`;

export const operatorCommand: Command = {
  name: 'operator',
  summary: 'reconcile OnePasswordItems and annotated workloads into Secrets',
  flags: Object.values(operatorFlags),
  details: DETAILS,
  async run(flags, io) {
    const config = parseOperatorConfig(flags, io.env);
    const logger = createLogger(
      'operator',
      config.log.level,
      config.log.pretty ? consoleDestination() : undefined,
    );
    for (const { flag, why } of config.ignoredFlags)
      logger.info({ flag }, `flag accepted without effect: ${why}`);
    for (const { setting, message } of config.warnings) logger.warn({ setting }, message);
    // Loaded only to run: `op-kube connect-local` or `--help` need none of the operator's modules.
    const { runOperator } = await import('./setup.ts');
    const operator = await runOperator(config, io.env, logger);
    const onSignal = (): void => void operator.stop();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    await operator.stopped;
    await operator.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    logger.info('stopped');
    return ExitCode.ok;
  },
};
