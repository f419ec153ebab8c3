import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPgDatabase, type PgTestDatabase } from '../harness/db.js';
import { PgShadowWriter } from '../../src/engines/postgres/shadow.js';
import type { Change } from '../../src/model/change.js';

/** The PostgreSQL apply path on its own, against a real server: bulk (COPY) runs and their idempotent fallback. */
describe('PgShadowWriter bulk apply', () => {
  const pgUrl = inject('pgUrl');
  let db: PgTestDatabase;
  let writer: PgShadowWriter;
  beforeAll(async () => {
    db = await createPgDatabase(pgUrl, 'writer');
    await db.admin.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text, b bytea)`);
    writer = await PgShadowWriter.open(db.url, 'w', 'forward', 5000);
    await writer.prepare(['t']);
  });
  afterAll(async () => {
    await writer?.close();
    await db?.drop();
  });

  const inserts = (from: number, to: number, tag: string): Change[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ op: 'insert', table: 't', after: { id: String(from + i), v: `${tag}\t"${from + i}"\\\n`, b: Buffer.from([0, from + i, 255]) } }));

  it('loads a large run of inserts through COPY with exact values, and replays over existing rows as upserts', async () => {
    await writer.begin();
    await writer.apply(inserts(1, 800, 'first'));
    await writer.commit({ position: '0/1', commitTime: null, appliedTransactions: 1, phase: 'shadowing', idlePosition: null });
    // Half of these exist already (a replay over a resumed backfill): the plain insert conflicts, the upsert wins.
    await writer.begin();
    await writer.apply(inserts(401, 1200, 'second'));
    await writer.commit({ position: '0/2', commitTime: null, appliedTransactions: 2, phase: 'shadowing', idlePosition: null });
    const r = await db.admin.query<{ n: string; firsts: string; seconds: string; ok: boolean }>(
      `select count(*)::text n, count(*) filter (where v like 'first%')::text firsts, count(*) filter (where v like 'second%')::text seconds,
              bool_and(v = (case when id <= 400 then 'first' else 'second' end) || E'\\t"' || id || E'"\\\\\\n' and b = decode('00' || lpad(to_hex(id % 256), 2, '0') || 'ff', 'hex')) ok
         from t`,
    );
    expect(r.rows[0]).toEqual({ n: '1200', firsts: '400', seconds: '800', ok: true });
    expect((await writer.readCheckpoint())?.position).toBe('0/2');
  });
});
