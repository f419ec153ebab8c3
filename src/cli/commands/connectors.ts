import type { Command } from 'commander';
import { Option } from 'commander';
import type { TandemConfig } from '../../config/schema.js';
import { redact } from '../../config/redact.js';
import { childLogger } from '../../log.js';
import { sidesOf, type Direction } from '../../model/direction.js';
import { engineForUrl } from '../../engines/registry.js';
import { replicatedTables } from '../../replicate/tables.js';
import { StateStore } from '../../control/state-store.js';
import { redactedConfig, renderConnector } from '../../transport/kafka/connectors.js';
import { applyConnector, connectorReport, deleteConnector, waitRunning } from '../../transport/kafka/manage.js';
import { loadCliConfig } from '../context.js';
import { printJson, printOut } from '../output.js';

/** The stored direction (forward before anything is stored), unless --direction names one. */
async function directionOf(config: TandemConfig, asked: Direction | undefined): Promise<Direction> {
  if (asked) return asked;
  const store = new StateStore(config, childLogger('connectors', { migration: config.migration }));
  try {
    return (await store.readControl())?.state.direction ?? 'forward';
  } finally {
    await store.close();
  }
}

/** Where a new connector starts: the shadow's checkpoint (the backfill's position, or the last applied one). */
async function checkpointPosition(config: TandemConfig, direction: Direction): Promise<string | undefined> {
  const { shadow } = sidesOf(direction);
  const writer = await engineForUrl(config[shadow].url).openShadowWriter({ url: config[shadow].url, migration: config.migration, direction, maxRows: 1 });
  try {
    return (await writer.readCheckpoint())?.sourcePosition;
  } finally {
    await writer.close();
  }
}

interface Opts {
  json?: boolean;
  direction?: Direction;
}

export function registerConnectors(program: Command): void {
  const connectors = program
    .command('connectors')
    .description('the Debezium connector of the Kafka transport (transport.kind: kafka): render its configuration, register it with Kafka Connect, show its state, remove it');
  const directionOption = () => new Option('--direction <direction>', 'the direction whose active side the connector captures (default: the stored one)').choices(['forward', 'reverse']);

  connectors
    .command('render')
    .description('print the connector configuration for the current direction (passwords only as config-provider references)')
    .option('--json', 'print as JSON')
    .addOption(directionOption())
    .action(async (opts: Opts, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const direction = await directionOf(config, opts.direction);
      const rendered = renderConnector(config, direction, await replicatedTables(config, direction));
      const shown = { name: rendered.name, topic: rendered.topic, config: redactedConfig(rendered.config) };
      if (opts.json) printJson(shown);
      else {
        printOut(`# connector ${shown.name}, change topic ${shown.topic}`);
        for (const [k, v] of Object.entries(shown.config)) printOut(redact(`${k}=${v}`));
      }
    });

  connectors
    .command('apply')
    .description('register the connector with Kafka Connect, or update it (idempotent), and wait until it runs')
    .option('--json', 'print the result as JSON')
    .addOption(directionOption())
    .action(async (opts: Opts, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const direction = await directionOf(config, opts.direction);
      const tables = await replicatedTables(config, direction);
      const applied = await applyConnector(config, direction, tables, await checkpointPosition(config, direction));
      const status = await waitRunning(config, applied.name);
      if (opts.json) printJson({ ...applied, state: status.connector.state });
      else printOut(`connector ${applied.name} ${applied.action}, ${status.connector.state}; change topic ${applied.topic}`);
    });

  connectors
    .command('status')
    .description("the connector's state, its tasks' states and its stored source offsets")
    .option('--json', 'print as JSON')
    .addOption(directionOption())
    .action(async (opts: Opts, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const direction = await directionOf(config, opts.direction);
      const report = await connectorReport(config, direction, await replicatedTables(config, direction));
      if (opts.json) printJson(JSON.parse(redact(JSON.stringify(report))));
      else if (!report.exists) printOut(`connector ${report.name}: not registered (tandem connectors apply registers it)`);
      else {
        printOut(`connector ${report.name}: ${report.status?.connector.state}`);
        for (const t of report.status?.tasks ?? []) printOut(redact(`  task ${t.id}: ${t.state}${t.trace ? ` (${t.trace})` : ''}`));
        for (const o of report.offsets?.offsets ?? []) printOut(`  offset: ${JSON.stringify(o.offset)}`);
        printOut(`  change topic: ${report.topic}`);
      }
    });

  connectors
    .command('delete')
    .description('remove the connector from Kafka Connect (its topic and the source slot stay)')
    .option('--json', 'print the result as JSON')
    .addOption(directionOption())
    .action(async (opts: Opts, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const direction = await directionOf(config, opts.direction);
      const result = await deleteConnector(config, direction, await replicatedTables(config, direction));
      if (opts.json) printJson(result);
      else printOut(result.deleted ? `connector ${result.name} removed` : `connector ${result.name} was not registered`);
    });
}
