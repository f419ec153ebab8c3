/**
 * Records what Tandem's binlog listener hands the framer, scenario by scenario, on a throwaway MariaDB (started
 * like the test suite's), into test/fixtures/binlog/<name>.json for test/unit/binlog-framer.test.ts.
 *
 *   npx tsx test/tools/record-binlog.ts
 *
 * Each scenario runs its statements, then reads the binlog from the position before them to the position after
 * them through the real listener (binlog-listener.ts) and a real framer behind it, so DDL follow-ups are answered
 * by the real column lookups and recorded too. The listener decodes one table outside the migration as well
 * (`audit_log`), so the fixtures hold events the framer must skip. The server writes rows events of at most 2 KiB
 * (binlog_row_event_max_size), so a statement of a few hundred rows spans several. Another server version may write
 * events of other sizes: the unit test takes byte offsets and times from the fixture's own events.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { errorMessage } from '../../src/errors.js';
import type { CaptureEvent } from '../../src/model/change.js';
import type { CaptureSink } from '../../src/engines/engine.js';
import { connectMysql } from '../../src/engines/mysql/connect.js';
import { BinlogFramer, type BinlogEvent, type DdlFollowUp } from '../../src/engines/mysql/binlog-framer.js';
import { listenToBinlog, type BinlogConsumer } from '../../src/engines/mysql/binlog-listener.js';
import { comparePositions, parsePosition } from '../../src/engines/mysql/position.js';
import { masterPosition } from '../../src/engines/mysql/reader.js';
import { startMariadb } from '../harness/servers.js';
import { withDatabase } from '../harness/db.js';
import { writeFixture, type FixtureStep } from '../harness/binlog-fixtures.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'binlog');
const DATABASE = 'shop';
const TABLES = ['customers', 'orders'];
const DECODED = ['audit_log'];

const SCHEMA = [
  `CREATE DATABASE other`,
  `CREATE TABLE other.notes (id int PRIMARY KEY, body text)`,
  `CREATE DATABASE ${DATABASE}`,
  `CREATE TABLE ${DATABASE}.customers (id int PRIMARY KEY, name varchar(50) NOT NULL, email varchar(100))`,
  `CREATE TABLE ${DATABASE}.orders (id bigint PRIMARY KEY, customer_id int NOT NULL, total decimal(10,2) NOT NULL, ratio float, placed datetime(6), tag varbinary(8), flags bit(3), big bigint unsigned, note text)`,
  `CREATE TABLE ${DATABASE}.audit_log (id int AUTO_INCREMENT PRIMARY KEY, msg varchar(100) NOT NULL)`,
];

/** Statements by session: `a` and `b` are two connections to the database, each opened for the scenario. */
type Statement = [session: 'a' | 'b', sql: string];

const manyRows = Array.from({ length: 400 }, (_, i) => `(${1000 + i}, 'bulk ${i}', NULL)`).join(', ');

const SCENARIOS: Record<string, { scenario: string; statements: Statement[] }> = {
  'autocommit-insert': {
    scenario: 'one INSERT of one row in autocommit',
    statements: [['a', `INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com')`]],
  },
  'two-tables': {
    scenario: 'one transaction over two tables: inserts, updates and a delete, values of many types',
    statements: [
      ['a', 'BEGIN'],
      ['a', `INSERT INTO customers VALUES (2, 'Grace', NULL)`],
      ['a', `INSERT INTO orders VALUES (10, 2, 12.50, 0.1, '2024-02-29 13:14:15.123456', x'00ff10', b'101', 18446744073709551615, 'first'), (11, 2, 99999999.99, NULL, NULL, NULL, NULL, NULL, NULL)`],
      ['a', `UPDATE orders SET total = 13.75, note = 'changed' WHERE id = 10`],
      ['a', `UPDATE customers SET email = 'grace@example.com' WHERE id = 2`],
      ['a', `DELETE FROM orders WHERE id = 11`],
      ['a', 'COMMIT'],
    ],
  },
  'many-rows': {
    scenario: 'one transaction of 400 inserted rows and 400 deleted rows, several rows events each (binlog_row_event_max_size=2048)',
    statements: [
      ['a', 'BEGIN'],
      ['a', `INSERT INTO customers VALUES ${manyRows}`],
      ['a', `DELETE FROM customers WHERE id >= 1000`],
      ['a', 'COMMIT'],
    ],
  },
  'ddl-add-column': {
    scenario: 'ALTER TABLE ADD COLUMN between transactions (MariaDB standalone GTID), read after the DDL ran; DDL outside the migration',
    statements: [
      ['a', `INSERT INTO customers VALUES (3, 'Edsger', NULL)`],
      ['a', `ALTER TABLE customers ADD COLUMN phone varchar(20)`],
      ['a', `INSERT INTO customers VALUES (4, 'Barbara', NULL, '+1 555 0100')`],
      ['a', `ALTER TABLE audit_log ADD COLUMN at datetime`],
      ['a', `ALTER TABLE other.notes ADD COLUMN title varchar(20)`],
    ],
  },
  truncate: {
    scenario: 'TRUNCATE TABLE of a replicated table, and of one outside the migration',
    statements: [
      ['a', `INSERT INTO orders (id, customer_id, total) VALUES (20, 1, 1.00)`],
      ['a', `TRUNCATE TABLE orders`],
      ['a', `TRUNCATE audit_log`],
    ],
  },
  'gtid-domains': {
    scenario: 'two GTID domains interleaved: session b writes in domain 1, one transaction of a spans a commit of b',
    statements: [
      ['b', 'SET SESSION gtid_domain_id = 1'],
      ['a', `INSERT INTO customers VALUES (100, 'domain 0 first', NULL, NULL)`],
      ['b', `INSERT INTO customers VALUES (200, 'domain 1 first', NULL, NULL)`],
      ['a', 'BEGIN'],
      ['a', `INSERT INTO customers VALUES (101, 'domain 0 second', NULL, NULL)`],
      ['b', `INSERT INTO customers VALUES (201, 'domain 1 second', NULL, NULL)`],
      ['a', 'COMMIT'],
      ['b', `UPDATE customers SET name = 'domain 1 third' WHERE id = 200`],
    ],
  },
  'outside-migration': {
    scenario: 'writes to a table outside the migration: alone, and in a transaction with a replicated table',
    statements: [
      ['a', `INSERT INTO audit_log (msg) VALUES ('alone')`],
      ['a', 'BEGIN'],
      ['a', `INSERT INTO audit_log (msg) VALUES ('with a customer')`],
      ['a', `UPDATE customers SET name = 'Ada L.' WHERE id = 1`],
      ['a', 'COMMIT'],
      ['a', `DELETE FROM audit_log`],
    ],
  },
  'row-image-minimal': {
    scenario: 'an UPDATE logged by a session with binlog_row_image=MINIMAL: a partial row image',
    statements: [
      ['a', 'SET SESSION binlog_row_image = MINIMAL'],
      ['a', `UPDATE customers SET name = 'Ada Lovelace' WHERE id = 1`],
    ],
  },
  rotate: {
    scenario: 'FLUSH BINARY LOGS between two transactions: the stream continues in the next file',
    statements: [
      ['a', `INSERT INTO customers VALUES (5, 'before the rotate', NULL, NULL)`],
      ['a', 'FLUSH BINARY LOGS'],
      ['a', `INSERT INTO customers VALUES (6, 'after the rotate', NULL, NULL)`],
    ],
  },
};

/** Records every event (and DDL answer) while a real framer behind it asks for what it needs. */
class Recorder implements BinlogConsumer {
  readonly steps: FixtureStep[] = [];
  private file = '';
  private reached = false;
  /** The framer refused an event (the row-image scenario): recording goes on without it. */
  private failed = false;

  constructor(
    private readonly framer: BinlogFramer,
    private readonly until: { file: string; offset: number },
    private readonly onEnd: () => void,
  ) {}

  next(event: BinlogEvent): DdlFollowUp | undefined {
    this.steps.push({ event });
    if (event.kind === 'rotate') this.file = event.file;
    if ('end' in event && this.file === this.until.file && event.end >= this.until.offset) this.reached = true;
    let followUp: DdlFollowUp | undefined;
    if (!this.failed) {
      try {
        followUp = this.framer.next(event);
      } catch (err) {
        this.failed = true;
        console.log(`  the framer refused a ${event.kind} event: ${errorMessage(err)}`);
      }
    }
    if (this.reached && !followUp?.describe) this.onEnd();
    return followUp;
  }

  resume(columns: ReadonlyMap<string, readonly string[]>): void {
    this.steps.push({ columns: Object.fromEntries([...columns].map(([table, names]) => [table, [...names]])) });
    this.framer.resume(columns);
    if (this.reached) this.onEnd();
  }

  idle() {
    return this.failed ? undefined : this.framer.idle();
  }
}

async function record(url: string, server: string, name: string, spec: { scenario: string; statements: Statement[] }): Promise<void> {
  const ctrl = await connectMysql(url, 'record: positions');
  const sessions: Record<'a' | 'b', mysql.Connection> = { a: await connectMysql(url, 'record: a'), b: await connectMysql(url, 'record: b') };
  let start: string;
  let end: string;
  try {
    start = await masterPosition(ctrl);
    for (const [session, sql] of spec.statements) await sessions[session].query(sql);
    end = await masterPosition(ctrl);
  } finally {
    for (const c of [ctrl, sessions.a, sessions.b]) await c.end();
  }

  const from = parsePosition(start);
  const until = parsePosition(end);
  const sink: CaptureSink = { push: (_e: CaptureEvent) => undefined, isFull: () => false, waitForRoom: async () => undefined };
  const framer = new BinlogFramer({ database: DATABASE, tables: new Set(TABLES), values: { zeroDates: 'keep' }, start: from, emit: sink.push });
  let ended!: () => void;
  const reachedEnd = new Promise<void>((resolve) => (ended = resolve));
  const recorder = new Recorder(framer, until, () => ended());
  const stream = await listenToBinlog({
    url,
    database: DATABASE,
    tables: [...TABLES, ...DECODED],
    start: from,
    ctrl: await connectMysql(url, 'record: metadata'),
    sink,
    consumer: recorder,
  });
  const timeout = setTimeout(() => ended(), 20_000);
  await Promise.race([reachedEnd, stream.done]);
  clearTimeout(timeout);
  await stream.stop();
  await stream.done;
  const last = recorder.steps.at(-1);
  if (!last || !('event' in last) || !('end' in last.event) || comparePositions(`${until.file}:${last.event.end}`, end) < 0) {
    throw new Error(`${name}: the binlog was not read up to ${end}`);
  }
  writeFixture(join(OUT, `${name}.json`), {
    scenario: spec.scenario,
    server,
    database: DATABASE,
    tables: TABLES,
    decoded: DECODED,
    start,
    end,
    statements: spec.statements.map(([session, sql]) => `${session}: ${sql}`),
    steps: recorder.steps,
  });
  console.log(`${name}: ${recorder.steps.length} steps, ${start} → ${end}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  // Small rows events, so that one statement's rows span several of them without a huge fixture.
  const mariadb = await startMariadb({ settings: { 'binlog-row-event-max-size': '2048' } });
  try {
    const url = withDatabase(mariadb.url, DATABASE);
    const root = await connectMysql(mariadb.url, 'record: schema');
    let server: string;
    try {
      for (const sql of SCHEMA) await root.query(sql);
      const [rows] = await root.query<RowDataPacket[]>('SELECT VERSION() AS v');
      server = String(rows[0]?.v);
    } finally {
      await root.end();
    }
    // Scenarios build on each other (the ALTER adds a column the later ones write): all of them, in order.
    for (const [name, spec] of Object.entries(SCENARIOS)) await record(url, server, name, spec);
  } finally {
    await mariadb.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
