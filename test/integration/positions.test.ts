/**
 * "Where the active side stands now" is read by verification (before it waits for the shadow's checkpoint), by the
 * switch (fence and drain positions) and by lag. Each reading must be at or past every commit that has already
 * returned, or verification waits for too little and calls a row that is still on its way drift. PostgreSQL's
 * pg_current_wal_lsn() is not: after a commit made with synchronous_commit = off it lags until the WAL writer runs.
 */
import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createPgDatabase } from '../harness/db.js';
import { suiteResources } from '../harness/tandem-process.js';
import { engine } from '../../src/engines/registry.js';
import { compareLsn, endOfLastRecord } from '../../src/engines/postgres/lsn.js';

describe('PostgreSQL: positions read after a commit made with synchronous_commit = off', () => {
  const pgUrl = inject('pgUrl');
  const { dbs } = suiteResources();

  it('are past it, whether verification, the switch or the capture reads them', async () => {
    const db = await createPgDatabase(pgUrl, 'positions');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    const pgEngine = engine('postgres');
    const reader = await pgEngine.openVerifyReader(db.url, { peer: 'postgres', zeroDates: 'keep' });
    const side = await pgEngine.openSwitchSide(db.url);
    const capture = pgEngine.captureSource({ url: db.url, migration: 'positions', side: 'old', tables: ['t'] });
    try {
      await writer.query(`SET synchronous_commit = off`);
      const behind: string[] = [];
      for (let i = 1; i <= 30; i++) {
        await writer.query(`INSERT INTO t VALUES ($1)`, [i]);
        // Read by the writer after its commit returned: the commit record ends at or before this.
        const committed = endOfLastRecord((await writer.query<{ lsn: string }>(`select pg_current_wal_insert_lsn()::text as lsn`)).rows[0]?.lsn as string);
        for (const [who, read] of [['verification', () => reader.currentPosition()], ['switch', () => side.currentPosition()], ['capture', () => capture.currentPosition()]] as const) {
          const at = await read();
          if (compareLsn(at, committed) < 0) behind.push(`${who} read ${at} after commit ${i} ended by ${committed}`);
        }
      }
      expect(behind).toEqual([]);
    } finally {
      await writer.end();
      await reader.close();
      await side.close();
    }
  });

  it('a position just past an empty page header is the end of the page before it, which a log reader reaches', () => {
    expect(endOfLastRecord('0/3000018')).toBe('0/3000000');
    expect(endOfLastRecord('1/A0002018')).toBe('1/A0002000');
    // Anything else is left as it is: records end on 8-byte boundaries past the header.
    expect(endOfLastRecord('0/3000020')).toBe('0/3000020');
    expect(endOfLastRecord('0/3000000')).toBe('0/3000000');
    expect(endOfLastRecord('0/3001FF8')).toBe('0/3001FF8');
  });
});
