import { describe, expect, it } from 'vitest';
import type { CheckItem } from '../../src/engines/shared/checks.js';
import type { ColumnCollation, ColumnSchema, EngineKind, TableSchema, UniqueKeySchema } from '../../src/model/schema.js';
import { compareTableSchemas } from '../../src/schema/compat.js';
import { collationEquality, collationPads, describeCollation, type MysqlServer } from '../../src/engines/mysql/collations.js';
import { foldedPart, pgCollation } from '../../src/engines/postgres/introspect.js';

const mariadb: MysqlServer = {
  mariadb: true,
  version: '10.11.6-MariaDB',
  collations: new Map(['utf8mb4_general_ci', 'utf8mb4_bin', 'utf8mb4_nopad_bin', 'utf8mb4_unicode_ci'].map((n) => [n, { charset: 'utf8mb4', noPad: null }])),
};
const coll = (name: string): ColumnCollation => describeCollation(name, mariadb);
const GENERAL_CI = coll('utf8mb4_general_ci');

interface Col {
  name: string;
  type: string;
  collation?: ColumnCollation;
}
const table = (columns: Col[], primaryKey: string[], uniqueKeys: UniqueKeySchema[] = []): TableSchema => ({
  name: 'tkey',
  columns: columns.map((c): ColumnSchema => ({ name: c.name, nativeType: c.type, nullable: !primaryKey.includes(c.name), hasDefault: false, ...(c.collation ? { collation: c.collation } : {}) })),
  primaryKey,
  uniqueKeys,
});
const side = (engine: EngineKind, t: TableSchema) => ({ engine, table: t });
const keyItems = (items: CheckItem[]) => items.filter((i) => i.id === 'schema.key_collation');

const pgKey = table([{ name: 's', type: 'text' }, { name: 'v', type: 'integer' }], ['s']);
const myKey = (collation: ColumnCollation, type = 'varchar(255)') => table([{ name: 's', type, collation }, { name: 'v', type: 'int(11)' }], ['s']);

describe('MySQL/MariaDB collations read as the model words', () => {
  it.each<[string, ColumnCollation['equality'], boolean]>([
    ['utf8mb4_general_ci', 'case-insensitive', true],
    ['utf8mb4_bin', 'exact', true],
    ['utf8mb4_nopad_bin', 'exact', false],
    ['utf8mb4_general_nopad_ci', 'case-insensitive', false],
    ['utf8mb4_uca1400_as_cs', 'weights', true],
    ['binary', 'exact', false],
  ])('MariaDB %s: %s, pads %s', (name, equality, pads) => {
    expect(collationEquality(name)).toBe(equality);
    expect(collationPads(name, mariadb)).toBe(pads);
  });

  it('MySQL 8: NO PAD as the server reports it, else the UCA 9.0.0 names', () => {
    const mysql8: MysqlServer = { mariadb: false, version: '8.0.36', collations: new Map([['utf8mb4_0900_bin', { charset: 'utf8mb4', noPad: true }], ['utf8mb4_bin', { charset: 'utf8mb4', noPad: false }]]) };
    expect(collationPads('utf8mb4_0900_bin', mysql8)).toBe(false);
    expect(collationPads('utf8mb4_bin', mysql8)).toBe(true);
    expect(collationPads('utf8mb4_0900_ai_ci', mysql8)).toBe(false);
    expect(describeCollation('utf8mb4_general_ci', mysql8).exactAlternative).toBe('utf8mb4_0900_bin');
    expect(GENERAL_CI.exactAlternative).toBe('utf8mb4_nopad_bin');
  });
});

describe('PostgreSQL collations and folded index parts', () => {
  it('deterministic collations compare exactly; nondeterministic ICU ones by weights, ignoring case at strength 1 or 2', () => {
    expect(pgCollation({ collname: 'default', collisdeterministic: true })).toEqual({ name: 'default', equality: 'exact', padSpace: false });
    expect(pgCollation({ collname: 'ci', collisdeterministic: false, colliculocale: 'und-u-ks-level2' }).equality).toBe('case-insensitive');
    expect(pgCollation({ collname: 'nd', collisdeterministic: false, colllocale: 'und' }).equality).toBe('weights');
  });

  it.each<[string, ReturnType<typeof foldedPart>]>([
    ['lower(rtrim(email::text))', { column: 'email', ignoresCase: true, ignoresTrailingSpaces: true }],
    ['upper((s)::text)', { column: 's', ignoresCase: true, ignoresTrailingSpaces: false }],
    ['TRIM(BOTH FROM e)', { column: 'e', ignoresCase: false, ignoresTrailingSpaces: true }],
    ['lower("We""ird")', { column: 'We"ird', ignoresCase: true, ignoresTrailingSpaces: false }],
    ['lower(a) || lower(b)', undefined],
    ['md5(s)', undefined],
  ])('%s', (expression, expected) => {
    expect(foldedPart(expression)).toEqual(expected);
  });
});

describe('tandem check: keys that merge values across sides', () => {
  it('PostgreSQL → MariaDB: a utf8mb4_general_ci shadow key fails, naming table, column, collation and the ALTER', () => {
    const [item, ...rest] = keyItems(compareTableSchemas('tkey', side('postgres', pgKey), side('mysql', myKey(GENERAL_CI))));
    expect(rest).toEqual([]);
    expect(item).toMatchObject({ status: 'fail', side: 'new' });
    expect(item?.title).toBe('table tkey: key column s on new would merge values that old keeps apart: utf8mb4_general_ci: case-insensitive, PAD SPACE');
    expect(item?.detail).toContain("differ only in letter case, trailing spaces or accents (or other differences the collation ignores) ('a' and 'A', 'a' and 'a ', 'e' and 'é')");
    expect(item?.detail).toContain('one value of the primary key (s)');
    expect(item?.fix).toBe('make the column on new compare exactly: ALTER TABLE `tkey` MODIFY `s` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;');
  });

  it('PostgreSQL → MariaDB: utf8mb4_nopad_bin passes; utf8mb4_bin fails for trailing spaces only; char(n) fails whatever its collation', () => {
    expect(keyItems(compareTableSchemas('tkey', side('postgres', pgKey), side('mysql', myKey(coll('utf8mb4_nopad_bin')))))).toEqual([]);
    const padded = keyItems(compareTableSchemas('tkey', side('postgres', pgKey), side('mysql', myKey(coll('utf8mb4_bin')))));
    expect(padded.map((i) => [i.status, i.detail.match(/differ only in ([^(]*)/)?.[1]])).toEqual([['fail', 'trailing spaces ']]);
    const fixed = keyItems(compareTableSchemas('tkey', side('postgres', pgKey), side('mysql', myKey(coll('utf8mb4_nopad_bin'), 'char(10)'))));
    expect(fixed[0]?.fix).toContain('MODIFY `s` varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL');
  });

  it('a unique index that is not the key fails the same way', () => {
    const oldT = table([{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }], ['id'], [{ name: 'users_email_key', parts: [{ column: 'email' }] }]);
    const newT = table([{ name: 'id', type: 'bigint(20)' }, { name: 'email', type: 'varchar(255)', collation: GENERAL_CI }], ['id'], [{ name: 'users_email_key', parts: [{ column: 'email' }] }]);
    const items = keyItems(compareTableSchemas('tkey', side('postgres', oldT), side('mysql', newT)));
    expect(items.map((i) => [i.status, i.side])).toEqual([['fail', 'new']]);
    expect(items[0]?.detail).toContain('one value of unique index users_email_key (email)');
  });

  it('MariaDB nopad_bin → MariaDB general_ci fails; the same collation on both sides passes', () => {
    const items = keyItems(compareTableSchemas('tkey', side('mysql', myKey(coll('utf8mb4_nopad_bin'))), side('mysql', myKey(GENERAL_CI))));
    expect(items.map((i) => [i.status, i.side])).toEqual([['fail', 'new']]);
    expect(keyItems(compareTableSchemas('tkey', side('mysql', myKey(GENERAL_CI)), side('mysql', myKey(GENERAL_CI))))).toEqual([]);
  });

  it('two case-insensitive collations that differ warn: their other equalities differ', () => {
    const items = keyItems(compareTableSchemas('tkey', side('mysql', myKey(GENERAL_CI)), side('mysql', myKey(coll('utf8mb4_unicode_ci')))));
    expect(items.map((i) => [i.status, i.side])).toEqual([
      ['warn', 'new'],
      ['warn', 'old'],
    ]);
    expect(items[0]?.fix).toContain('or give it utf8mb4_general_ci as on old');
  });

  describe('reverse: a case-insensitive MariaDB old, PostgreSQL new', () => {
    const oldT = table([{ name: 'id', type: 'int(11)' }, { name: 'email', type: 'varchar(100)', collation: GENERAL_CI }], ['id'], [{ name: 'email', parts: [{ column: 'email' }] }]);
    const newT = (extra: UniqueKeySchema[] = []) =>
      table([{ name: 'id', type: 'integer' }, { name: 'email', type: 'character varying(100)', collation: pgCollation({ collname: 'default', collisdeterministic: true }) }], ['id'], [
        { name: 'accounts_email', parts: [{ column: 'email' }] },
        ...extra,
      ]);

    it('fails on old, with a fix for either side', () => {
      const items = keyItems(compareTableSchemas('accounts', side('mysql', oldT), side('postgres', newT())));
      expect(items.map((i) => [i.status, i.side])).toEqual([['fail', 'old']]);
      expect(items[0]?.title).toBe('table accounts: key column email on old would merge values that new keeps apart (after cutover): utf8mb4_general_ci: case-insensitive, PAD SPACE');
      expect(items[0]?.detail).toContain('changes written on new after cutover would merge rows when they flow back to old');
      expect(items[0]?.fix).toBe(
        "either make the column on old compare exactly: ALTER TABLE `accounts` MODIFY `email` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL; (this also changes how the application's queries compare on old), or make new refuse such values: CREATE UNIQUE INDEX \"accounts_email_fold\" ON \"accounts\" (lower(rtrim(\"email\")));",
      );
    });

    it('a unique index on lower(email) on new still leaves trailing spaces: fails', () => {
      const items = keyItems(compareTableSchemas('accounts', side('mysql', oldT), side('postgres', newT([{ name: 'lower_email', parts: [{ column: 'email', ignoresCase: true }] }]))));
      expect(items.map((i) => i.status)).toEqual(['fail']);
    });

    it('a unique index on lower(rtrim(email)) on new leaves only accents: a warning', () => {
      const items = keyItems(
        compareTableSchemas('accounts', side('mysql', oldT), side('postgres', newT([{ name: 'accounts_email_fold', parts: [{ column: 'email', ignoresCase: true, ignoresTrailingSpaces: true }] }]))),
      );
      expect(items.map((i) => [i.status, i.side])).toEqual([['warn', 'old']]);
      expect(items[0]?.detail).toContain("new's unique index accounts_email_fold (email) refuses values that differ only in case or trailing spaces, not these");
      expect(items[0]?.detail).toContain("accents (or other differences the collation ignores) ('e' and 'é')");
    });

    it('an old key column of binary collation passes both ways', () => {
      const exact = table([{ name: 'id', type: 'int(11)' }, { name: 'email', type: 'varchar(100)', collation: coll('utf8mb4_nopad_bin') }], ['id'], [{ name: 'email', parts: [{ column: 'email' }] }]);
      expect(keyItems(compareTableSchemas('accounts', side('mysql', exact), side('postgres', newT())))).toEqual([]);
    });
  });
});
