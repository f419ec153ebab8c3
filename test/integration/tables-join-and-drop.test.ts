/**
 * The set of tables is not frozen at the first start. A table created on the active side while `tandem run` runs
 * joins once the shadow has it (copied at a consistent point, then streamed); one Tandem may not publish is reported
 * with the statement an administrator runs, and joins once it is run; a dropped table stops replication naming it;
 * with `tables` configured, the others are listed as not replicated. Rows are read from both databases directly.
 */
import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, withDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { startTandem, suiteResources, waitForShadowing, waitUntil, type TandemProcess } from '../harness/tandem-process.js';

interface Status {
  phase: string;
  tables: { replicated: string[]; joining: string[]; pending: Array<{ table: string; reason: string; fix: string }>; notReplicated: string[] } | null;
  lastError: string | null;
}
const statusOf = async (config: string) => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as Status;
const sorted = (rows: string[][]) => rows.map((r) => r.join('|')).sort();

describe('tables that join or leave a running migration', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();
  const run = (config: string): TandemProcess => {
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    return p;
  };

  it('PostgreSQL → PostgreSQL: a new table joins once the shadow has it; a dropped one stops replication, and excluding it resumes', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'join_src'), await createPgDatabase(pgUrl, 'join_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE first (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO first SELECT g, 'f' || g FROM generate_series(1, 100) g`);
    const migration = uniqueName('join');
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, discovery: { interval: '500ms' } });
    let p = run(config);
    await waitForShadowing(config);

    // Created on the active side with rows, written to while the shadow still lacks it: reported, not lost.
    await src.admin.query(`CREATE TABLE newtab (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO newtab SELECT g, 'n' || g FROM generate_series(1, 500) g`);
    const pending = await waitUntil('the new table to be reported pending', async () => (await statusOf(config)).tables?.pending.find((t) => t.table === 'newtab'), 30_000);
    expect(pending.fix).toContain('tandem schema --apply');
    // The operator creates it on the shadow; it joins: copied, then streamed, while the application keeps writing.
    await dst.admin.query(`CREATE TABLE newtab (id int PRIMARY KEY, v text)`);
    for (let i = 0; i < 20; i++) await src.admin.query(`UPDATE newtab SET v = v || '!' WHERE id = $1`, [i + 1]);
    await src.admin.query(`INSERT INTO newtab VALUES (1000, 'late')`);
    await src.admin.query(`DELETE FROM newtab WHERE id BETWEEN 400 AND 450`);
    const rows = `SELECT id::text, v FROM newtab`;
    await waitUntil('newtab to equal the source on the shadow', async () => JSON.stringify(sorted(await pgRows(dst.admin, rows))) === JSON.stringify(sorted(await pgRows(src.admin, rows))), 60_000, 300);
    await src.admin.query(`UPDATE newtab SET v = 'streamed' WHERE id = 7`);
    await waitUntil('a later change to arrive', async () => (await pgRows(dst.admin, `SELECT v FROM newtab WHERE id = 7`))[0]?.[0] === 'streamed', 30_000);
    expect((await statusOf(config)).tables?.replicated.sort()).toEqual(['first', 'newtab']);

    // Dropped on the active side: replication stops naming it (it does not go on as if the table were empty).
    await src.admin.query(`DROP TABLE first`);
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    expect(code, p.output().slice(-2000)).toBe(4);
    expect(p.output()).toMatch(/table first was dropped or renamed on the active side/);
    expect(p.output()).toMatch(/exclude: \[first\]/);
    // The fix works: excluded, replication resumes from the checkpoint and the shadow keeps first's rows.
    const excluded = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, exclude: ['first'], discovery: { interval: '500ms' } });
    p = run(excluded);
    await src.admin.query(`UPDATE newtab SET v = 'after the drop' WHERE id = 8`);
    try {
      await waitUntil('replication to resume', async () => (await pgRows(dst.admin, `SELECT v FROM newtab WHERE id = 8`))[0]?.[0] === 'after the drop', 90_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; tandem run said:\n${p.output().slice(-3000)}`);
    }
    expect((await pgRows(dst.admin, `SELECT count(*)::text FROM first`))[0]).toEqual(['100']);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('PostgreSQL → PostgreSQL: a new table with a column named __proto__ stays pending with the rename, and nothing of it is copied', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'joinproto_src'), await createPgDatabase(pgUrl, 'joinproto_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE first (id int PRIMARY KEY, v text)`);
    const config = writeConfig({ migration: uniqueName('joinproto'), old: { url: src.url }, new: { url: dst.url }, discovery: { interval: '500ms' } });
    const p = run(config);
    await waitForShadowing(config);

    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE notes (id int PRIMARY KEY, "__proto__" text)`);
    await src.admin.query(`INSERT INTO notes VALUES (1, 'kept')`);
    const pending = await waitUntil('notes to be reported pending', async () => (await statusOf(config)).tables?.pending.find((t) => t.table === 'notes'), 30_000);
    expect(pending.reason).toContain('column named __proto__');
    expect(pending.fix).toContain('RENAME COLUMN "__proto__"');
    // Replication of the other tables goes on; notes never joins, so nothing of it reaches the shadow.
    await src.admin.query(`INSERT INTO first VALUES (1, 'after')`);
    await waitUntil('first to go on replicating', async () => (await pgRows(dst.admin, `SELECT v FROM first WHERE id = 1`))[0]?.[0] === 'after', 30_000);
    expect((await statusOf(config)).tables?.replicated).toEqual(['first']);
    expect(await pgRows(dst.admin, `SELECT count(*)::text FROM notes`)).toEqual([['0']]);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('PostgreSQL: a table Tandem may not publish is reported with the statement to run, and joins once an administrator runs it', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'own_src'), await createPgDatabase(pgUrl, 'own_dst')];
    dbs.push(src, dst);
    const role = uniqueName('tandem_lp');
    await src.admin.query(`CREATE ROLE ${role} LOGIN REPLICATION`);
    try {
      await src.admin.query(`GRANT CREATE ON DATABASE ${pg.escapeIdentifier(src.name)} TO ${role}`);
      await src.admin.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      await src.admin.query(`SET ROLE ${role}; CREATE TABLE mine (id int PRIMARY KEY, v text); RESET ROLE`);
      await dst.admin.query(`CREATE TABLE mine (id int PRIMARY KEY, v text); CREATE TABLE theirs (id int PRIMARY KEY, v text)`);
      const config = writeConfig({ migration: uniqueName('own'), old: { url: withDatabase(pgUrl, src.name, { name: role }) }, new: { url: dst.url }, discovery: { interval: '500ms' } });
      const p = run(config);
      await waitForShadowing(config);
      // Created by another role: Tandem cannot take it into its publication.
      await src.admin.query(`CREATE TABLE theirs (id int PRIMARY KEY, v text); GRANT SELECT ON theirs TO ${role}`);
      await src.admin.query(`INSERT INTO theirs VALUES (1, 'one'), (2, 'two')`);
      const pending = await waitUntil('theirs to be reported pending', async () => (await statusOf(config)).tables?.pending.find((t) => t.table === 'theirs'), 30_000);
      const statement = /ALTER PUBLICATION "[^"]+" ADD TABLE "theirs";/.exec(pending.fix)?.[0];
      expect(statement, pending.fix).toBeDefined();
      const metrics = await runTandem(['check', '--json', '--config', config]);
      expect(metrics.stdout).toContain('postgres.publication_tables');
      // An administrator runs exactly the statement given; the table joins with its rows.
      await src.admin.query(statement as string);
      await waitUntil('theirs to arrive', async () => JSON.stringify(sorted(await pgRows(dst.admin, `SELECT id::text, v FROM theirs`))) === JSON.stringify(['1|one', '2|two']), 60_000, 300);
      await src.admin.query(`INSERT INTO theirs VALUES (3, 'three')`);
      await waitUntil('a streamed row of theirs', async () => (await pgRows(dst.admin, `SELECT v FROM theirs WHERE id = 3`))[0]?.[0] === 'three', 30_000);
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await src.admin.query(`REASSIGN OWNED BY ${role} TO postgres; DROP OWNED BY ${role}`).catch(() => undefined);
      await src.admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    }
  });

  it('MariaDB → PostgreSQL: a new table joins; DROP TABLE stops naming it, and excluding it resumes past the statement', async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'join_msrc'), await createPgDatabase(pgUrl, 'join_mdst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE first (id int PRIMARY KEY, v text)`);
    await dst.admin.query(`CREATE TABLE first (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO first VALUES (1, 'a'), (2, 'b')`);
    const migration = uniqueName('mjoin');
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, discovery: { interval: '500ms' } });
    let p = run(config);
    await waitForShadowing(config);
    await dst.admin.query(`CREATE TABLE newtab (id int PRIMARY KEY, v text)`);
    await src.admin.query(`CREATE TABLE newtab (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO newtab VALUES (1, 'row one'), (2, 'row two')`);
    await waitUntil('newtab to arrive', async () => (await pgRows(dst.admin, `SELECT count(*)::text FROM newtab`))[0]?.[0] === '2', 60_000, 300);
    await src.admin.query(`UPDATE newtab SET v = 'streamed' WHERE id = 2`);
    await waitUntil('a streamed change of newtab', async () => (await pgRows(dst.admin, `SELECT v FROM newtab WHERE id = 2`))[0]?.[0] === 'streamed', 30_000);
    expect(sorted(await mysqlRows(src.admin, `SELECT id, v FROM newtab`))).toEqual(sorted(await pgRows(dst.admin, `SELECT id::text, v FROM newtab`)));

    await src.admin.query(`DROP TABLE first`);
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    expect(code, p.output().slice(-2000)).toBe(4);
    expect(p.output()).toMatch(/table first was dropped or renamed/);
    expect(p.output()).toMatch(/exclude: \[first\]/);
    expect(p.output()).not.toContain('backfill --yes');
    p = run(writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, exclude: ['first'], discovery: { interval: '500ms' } }));
    await src.admin.query(`INSERT INTO newtab VALUES (3, 'after the drop')`);
    await waitUntil('replication to resume past the DROP', async () => (await pgRows(dst.admin, `SELECT v FROM newtab WHERE id = 3`))[0]?.[0] === 'after the drop', 60_000);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('with tables configured, the active side\'s other tables are listed as not replicated (status and check)', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'list_src'), await createPgDatabase(pgUrl, 'list_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE kept (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)`);
    const config = writeConfig({ migration: uniqueName('list'), old: { url: src.url }, new: { url: dst.url }, tables: ['kept'], discovery: { interval: '500ms' } });
    const p = run(config);
    await waitForShadowing(config);
    await src.admin.query(`CREATE TABLE later (id int PRIMARY KEY)`);
    const tables = await waitUntil('later to be listed', async () => {
      const t = (await statusOf(config)).tables;
      return t?.notReplicated.includes('later') ? t : undefined;
    }, 30_000);
    expect(tables.notReplicated.sort()).toEqual(['later', 'other']);
    expect(tables.replicated).toEqual(['kept']);
    const check = await runTandem(['check', '--config', config]);
    expect(check.stdout).toMatch(/WARN .*table\(s\) of old are not replicated — .*later, other|WARN .*not replicated.*other/);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});
