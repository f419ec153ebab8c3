import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { SchemaGuard } from '../../src/replicate/schema-guard.js';
import { TandemError } from '../../src/errors.js';

/** The shadow's column lists as the guard sees them; `reloaded` stands for an operator's ALTER TABLE on the shadow. */
function shadowWith(columns: Record<string, string[]>, reloaded: Record<string, string[]> = {}) {
  const now = { ...columns };
  return {
    reloads: 0,
    columnsOf: (t: string) => now[t],
    async reloadSchema(tables: string[]) {
      this.reloads++;
      for (const t of tables) if (reloaded[t]) now[t] = reloaded[t] as string[];
    },
  };
}

const log = pino({ level: 'silent' });
const caught = async (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as TandemError);

describe('SchemaGuard (H9)', () => {
  it('lets a relation through when the shadow has every column, without reading the shadow again', async () => {
    const shadow = shadowWith({ t: ['id', 'v', 'extra'] });
    await new SchemaGuard(shadow, log).onRelation('t', ['id', 'v'], '0/1');
    expect(shadow.reloads).toBe(0);
  });

  it('stops naming the table and the columns the shadow lacks, unless the shadow was altered meanwhile', async () => {
    const stale = await caught(new SchemaGuard(shadowWith({ t: ['id'] }), log).onRelation('t', ['id', 'added'], '0/AB'));
    expect(stale).toBeInstanceOf(TandemError);
    expect(stale?.code).toBe('TANDEM_CAPTURE_DDL');
    expect(stale?.message).toContain('table t on the active side now has column(s) added');
    expect(stale?.message).toContain('checkpoint 0/AB');
    expect(stale?.fix).toContain('ALTER TABLE');
    await new SchemaGuard(shadowWith({ t: ['id'] }, { t: ['id', 'added'] }), log).onRelation('t', ['id', 'added'], '0/AB');
  });

  it('DDL: continues when the shadow already matches, stops on a drop or a mismatch with the statement named', async () => {
    await new SchemaGuard(shadowWith({ t: ['id', 'v'] }), log).onDdl('t', ['id', 'v'], 'ALTER TABLE t ADD v int', 'b.1:4');
    const dropped = await caught(new SchemaGuard(shadowWith({ t: ['id'] }), log).onDdl('t', [], 'DROP TABLE t', 'b.1:4'));
    expect(dropped?.message).toContain('was dropped or renamed');
    const renamed = await caught(new SchemaGuard(shadowWith({ t: ['id', 'old'] }), log).onDdl('t', ['id', 'new'], 'ALTER TABLE t RENAME COLUMN old TO new', 'b.1:4'));
    expect(renamed?.message).toContain('the shadow lacks new; the shadow still has old');
    expect(renamed?.message).toContain('`ALTER TABLE t RENAME COLUMN old TO new`');
  });
});

describe('SchemaGuard: a column no row can carry', () => {
  it('stops on a relation with a column named __proto__ even when the shadow has the column too, with the way out', async () => {
    const shadow = shadowWith({ t: ['id', 'v', '__proto__'] });
    const err = await caught(new SchemaGuard(shadow, log).onRelation('t', ['id', 'v', '__proto__'], '0/AB'));
    expect(err).toBeInstanceOf(TandemError);
    expect(err?.code).toBe('TANDEM_CAPTURE_DDL');
    expect(err?.message).toContain('table t on the active side now has a column named __proto__');
    expect(err?.message).toContain('checkpoint 0/AB');
    expect(err?.fix).toContain('exclude: [t]');
    expect(err?.fix).toContain('tandem repair --table t');
  });

  it('stops on a DDL statement that leaves such a column, whatever the shadow holds', async () => {
    const err = await caught(new SchemaGuard(shadowWith({ t: ['id', '__proto__'] }), log).onDdl('t', ['id', '__proto__'], 'ALTER TABLE t RENAME COLUMN v TO __proto__', 'b.1:4'));
    expect(err?.code).toBe('TANDEM_CAPTURE_DDL');
    expect(err?.message).toContain('column named __proto__');
  });
});
