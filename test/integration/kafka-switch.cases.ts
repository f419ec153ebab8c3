/**
 * Switches over the Kafka transport (issue 15, item 5): `tandem cutover` and `tandem rollback` with
 * `transport.kind: kafka` under the shop load. The drain marker comes through Debezium and Kafka; the new direction's
 * connector is created inside the window at the drained position, and the ended direction's removed. Checked after
 * each switch: exactly the connector of the current direction is registered, and it runs. The shared scenario
 * (harness/switch-load.ts) then checks that no acknowledged write was lost, the sides are equal and only one side
 * took writes at a time. A failed start of the new direction's capture backs the switch out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONNECT_URL } from '../../scripts/kafka-stack.js';
import { ensureKafka } from '../harness/kafka.js';
import { postgresBinDir } from '../harness/servers.js';
import { queryOnce, switchCli, type SideName } from '../harness/switch.js';
import { switchesUnderLoad, verifiedSince, type SwitchScenario } from '../harness/switch-load.js';
import { suiteResources, waitUntil } from '../harness/tandem-process.js';
import { tempDir } from '../harness/temp.js';

const prefixOf = (migration: string) => `tsw-${migration.replace(/_/g, '-')}`;

const kafkaConfig = (migration: string) => ({
  transport: { kind: 'kafka', kafka: { prefix: prefixOf(migration) } },
  state: { dir: tempDir('tandem-state-') },
});

interface ConnectorState {
  connector: { state: string };
  tasks: Array<{ state: string }>;
}

/** The migration's connectors in Kafka Connect, each with its connector and task states. */
async function connectorsOf(migration: string): Promise<Record<string, string>> {
  const names = ((await (await fetch(`${CONNECT_URL}/connectors`)).json()) as string[]).filter((n) => n.startsWith(`${prefixOf(migration)}-`));
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    const s = (await (await fetch(`${CONNECT_URL}/connectors/${name}/status`)).json()) as ConnectorState;
    out[name] = [s.connector.state, ...s.tasks.map((t) => t.state)].join('/');
  }
  return out;
}

/** After a switch to `to`: only the connector capturing `to` is registered, and it runs with its task. */
async function onlyConnectorOf(to: SideName, s: SwitchScenario): Promise<void> {
  const wanted = { [`${prefixOf(s.migration)}-${to}`]: 'RUNNING/RUNNING' };
  await waitUntil(`only the connector capturing ${to} to be registered and running`, async () => JSON.stringify(await connectorsOf(s.migration)) === JSON.stringify(wanted), 60_000);
  expect(await connectorsOf(s.migration)).toEqual(wanted);
}

/**
 * Holds new's capture slot with pg_recvlogical, so the reverse stream's capture cannot start there: the cutover must
 * back out after its drain, with old active again, the forward connector still the only one, and nothing lost.
 */
async function cutoverBacksOutWhenTheReverseCaptureCannotStart(s: SwitchScenario): Promise<void> {
  const slot = `tandem_${s.migration}_new`;
  const publication = `tandem_${s.migration}`;
  await waitUntil('the publication on new (created ahead of a switch)', async () => (await queryOnce(s.newDb.url, `select 1 from pg_publication where pubname = $1`, [publication])).length > 0, 60_000);
  await queryOnce(s.newDb.url, `select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  const holder: ChildProcess = spawn(join(postgresBinDir(), 'pg_recvlogical'), ['-d', s.newDb.url, '-S', slot, '--start', '--no-loop', '-f', '/dev/null', '-o', 'proto_version=1', '-o', `publication_names=${publication}`], { stdio: 'ignore' });
  try {
    await verifiedSince(s, new Date().toISOString());
    await waitUntil('pg_recvlogical to hold the slot', async () => (await queryOnce(s.newDb.url, `select 1 from pg_replication_slots where slot_name = $1 and active`, [slot])).length > 0, 30_000);
    const r = await switchCli('cutover', s.config);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.result.result).toBe('backed-out');
    expect(r.result.error?.message).toMatch(/backed out: .*slot/);
    expect(await s.status()).toMatchObject({ phase: 'shadowing', activeSide: 'old', direction: 'forward' });
    await onlyConnectorOf('old', s);
  } finally {
    holder.kill('SIGKILL');
  }
  await waitUntil('the slot to be free again', async () => (await queryOnce(s.newDb.url, `select 1 from pg_replication_slots where slot_name = $1 and active`, [slot])).length === 0, 30_000);
}

/** A test's connectors go before its databases: a running connector holds the slot a database drop waits for. */
async function removeConnectors(migration: string): Promise<void> {
  for (const name of Object.keys(await connectorsOf(migration))) await fetch(`${CONNECT_URL}/connectors/${name}`, { method: 'DELETE' });
}

describe('Kafka transport: cutover and rollback under load', () => {
  const res = suiteResources();
  const config = (migration: string) => {
    res.cleanups.push(() => removeConnectors(migration));
    return kafkaConfig(migration);
  };

  beforeAll(() => ensureKafka(), 600_000);

  it('PostgreSQL → PostgreSQL: a cutover that cannot start the reverse capture backs out; then cutover and rollback move the connector with the writes', { timeout: 600_000 }, () =>
    switchesUnderLoad(res, {
      oldKind: 'pg',
      newKind: 'pg',
      switches: [['cutover', 'new'], ['rollback', 'old']],
      config,
      beforeSwitches: async (s) => {
        await onlyConnectorOf('old', s);
        await cutoverBacksOutWhenTheReverseCaptureCannotStart(s);
      },
      afterSwitch: (_kind, to, s) => onlyConnectorOf(to, s),
    }));

  it('MariaDB → PostgreSQL: the reverse connector on new at cutover, the MariaDB connector again at old\'s drained binlog position at rollback', { timeout: 600_000 }, () =>
    switchesUnderLoad(res, {
      oldKind: 'mysql',
      newKind: 'pg',
      switches: [['cutover', 'new'], ['rollback', 'old']],
      config,
      beforeSwitches: (s) => onlyConnectorOf('old', s),
      afterSwitch: (_kind, to, s) => onlyConnectorOf(to, s),
    }));
});
