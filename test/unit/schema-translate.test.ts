import { describe, expect, it } from 'vitest';
import type { ColumnDefault, DdlColumn, DdlTable } from '../../src/model/ddl.js';
import { commentText, renderTableScript, translateDefault, translateTable } from '../../src/schema/translate.js';
import { parsePgDefault, postgresDialect } from '../../src/engines/postgres/ddl.js';
import { mysqlDialect, mysqlDialectFor, parseMysqlDefault } from '../../src/engines/mysql/ddl.js';
import type { MysqlServer } from '../../src/engines/mysql/collations.js';
import type { ColumnCollation } from '../../src/model/schema.js';

const server = (mariadb: boolean, names: string[]): MysqlServer => ({
  mariadb,
  version: mariadb ? '10.11.6-MariaDB' : '8.0.36',
  collations: new Map(names.map((n) => [n, { charset: n.split('_')[0] ?? null, noPad: mariadb ? null : /_0900_/.test(n) }])),
});
const MARIADB = server(true, ['utf8mb4_general_ci', 'utf8mb4_bin', 'utf8mb4_nopad_bin', 'latin1_swedish_ci', 'latin1_bin', 'latin1_nopad_bin']);
const MYSQL8 = server(false, ['utf8mb4_0900_ai_ci', 'utf8mb4_general_ci', 'utf8mb4_bin', 'utf8mb4_0900_bin']);
const MYSQL57 = server(false, ['utf8mb4_general_ci', 'utf8mb4_bin']);
const GENERAL_CI: ColumnCollation = { name: 'utf8mb4_general_ci', equality: 'case-insensitive', padSpace: true, charset: 'utf8mb4', exactAlternative: 'utf8mb4_nopad_bin' };
const BIN: ColumnCollation = { name: 'utf8mb4_bin', equality: 'exact', padSpace: true, charset: 'utf8mb4', exactAlternative: 'utf8mb4_nopad_bin' };

const col = (name: string, nativeType: string, extra: Partial<DdlColumn> = {}): DdlColumn => ({
  name,
  nativeType,
  nullable: true,
  hasDefault: false,
  default: undefined,
  autoIncrement: false,
  ...extra,
});
const table = (name: string, columns: DdlColumn[], primaryKey: string[], indexes: DdlTable['indexes'] = []): DdlTable => ({ name, columns, primaryKey, indexes });

describe('parsePgDefault', () => {
  it.each<[string, ColumnDefault]>([
    ["'abc'::character varying", { kind: 'string', value: 'abc' }],
    ["'it''s'::text", { kind: 'string', value: "it's" }],
    ["'{}'::jsonb", { kind: 'string', value: '{}' }],
    ['42', { kind: 'number', value: '42' }],
    ['(-1)', { kind: 'number', value: '-1' }],
    ['3.50', { kind: 'number', value: '3.50' }],
    ['true', { kind: 'boolean', value: true }],
    ['now()', { kind: 'current_timestamp' }],
    ['CURRENT_TIMESTAMP(3)', { kind: 'current_timestamp' }],
    ['CURRENT_DATE', { kind: 'current_date' }],
    ['gen_random_uuid()', { kind: 'uuid' }],
    ['NULL::text', { kind: 'null' }],
    ["(now() + '1 day'::interval)", { kind: 'expression', engine: 'postgres', sql: "(now() + '1 day'::interval)" }],
  ])('%s', (expr, expected) => {
    expect(parsePgDefault(expr)).toEqual(expected);
  });
});

describe('parseMysqlDefault', () => {
  it.each<[string | null, string, boolean, ColumnDefault | undefined]>([
    [null, '', true, undefined],
    ['NULL', '', true, { kind: 'null' }],
    ["'draft'", '', true, { kind: 'string', value: 'draft' }],
    ["'it''s'", '', true, { kind: 'string', value: "it's" }],
    ["'a\\\\b'", '', true, { kind: 'string', value: 'a\\b' }],
    ['0', '', true, { kind: 'number', value: '0' }],
    ['-1.50', '', true, { kind: 'number', value: '-1.50' }],
    ['current_timestamp()', 'on update current_timestamp()', true, { kind: 'current_timestamp' }],
    ['current_timestamp(6)', '', true, { kind: 'current_timestamp' }],
    ['curdate()', '', true, { kind: 'current_date' }],
    ['uuid()', '', true, { kind: 'uuid' }],
    ['1 + 1', '', true, { kind: 'expression', engine: 'mysql', sql: '1 + 1' }],
    // MySQL 8: literals unquoted, expressions marked DEFAULT_GENERATED.
    ['draft', '', false, { kind: 'string', value: 'draft' }],
    ['7', '', false, { kind: 'number', value: '7' }],
    ['CURRENT_TIMESTAMP', 'DEFAULT_GENERATED', false, { kind: 'current_timestamp' }],
  ])('%s (%s, mariadb=%s)', (raw, extra, mariadb, expected) => {
    expect(parseMysqlDefault(raw, extra, mariadb)).toEqual(expected);
  });
});

describe('translateDefault', () => {
  it('turns MySQL 0/1 on tinyint(1) into PostgreSQL booleans and back', () => {
    expect(translateDefault({ kind: 'number', value: '1' }, 'mysql', 'postgres', { kind: 'boolean' })).toEqual({ value: { kind: 'boolean', value: true } });
    expect(translateDefault({ kind: 'string', value: '0' }, 'mysql', 'postgres', { kind: 'boolean' })).toEqual({ value: { kind: 'boolean', value: false } });
  });
  it('refuses to guess: a foreign expression, a zero date, a non-boolean on a boolean', () => {
    expect(translateDefault({ kind: 'expression', engine: 'postgres', sql: 'now() + 1' }, 'postgres', 'mysql', { kind: 'date' }).warning).toMatch(/not translated/);
    expect(translateDefault({ kind: 'string', value: '0000-00-00 00:00:00' }, 'mysql', 'postgres', { kind: 'timestamp', precision: 0, withTimeZone: false }).warning).toMatch(/zero date/);
    expect(translateDefault({ kind: 'string', value: 'maybe' }, 'mysql', 'postgres', { kind: 'boolean' }).warning).toMatch(/not a boolean/);
  });
  it('keeps an expression on the same engine, drops DEFAULT NULL', () => {
    const e: ColumnDefault = { kind: 'expression', engine: 'postgres', sql: "now() + '1 day'::interval" };
    expect(translateDefault(e, 'postgres', 'postgres', undefined)).toEqual({ value: e });
    expect(translateDefault({ kind: 'null' }, 'mysql', 'postgres', undefined)).toEqual({});
  });
  it('current timestamp on a date column is the current date', () => {
    expect(translateDefault({ kind: 'current_timestamp' }, 'postgres', 'mysql', { kind: 'date' })).toEqual({ value: { kind: 'current_date' } });
  });
});

describe('translateTable', () => {
  it('MySQL → PostgreSQL: identity, booleans, indexes named per table, prefix dropped with a warning', () => {
    const t = table(
      'users',
      [
        col('id', 'int(10) unsigned', { nullable: false, autoIncrement: true }),
        col('ok', 'tinyint(1)', { nullable: false, default: { kind: 'number', value: '0' } }),
        col('name', 'varchar(100)'),
      ],
      ['id'],
      [{ name: 'name', unique: true, parts: [{ column: 'name', prefix: 10 }] }],
    );
    const { plan, problems } = translateTable(t, 'mysql', postgresDialect);
    expect(problems).toEqual([]);
    const sql = renderTableScript(plan!, postgresDialect);
    expect(sql).toContain('"id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL');
    expect(sql).toContain('"ok" boolean NOT NULL DEFAULT false');
    expect(sql).toContain('CREATE UNIQUE INDEX "users_name" ON "users" ("name");');
    expect(sql).toMatch(/-- warning: index name: prefix length 10 on name is dropped/);
  });

  it('PostgreSQL → MySQL: a text key becomes varchar(255); a unique index losing an expression part is no longer unique', () => {
    const t = table(
      'tags',
      [col('code', 'text', { nullable: false }), col('label', 'text'), col('n', 'integer', { autoIncrement: true, nullable: false })],
      ['code'],
      [{ name: 'tags_label', unique: true, parts: [{ column: 'label' }, { column: undefined, expression: 'lower(code)' }] }],
    );
    const { plan } = translateTable(t, 'postgres', mysqlDialect);
    const sql = renderTableScript(plan!, mysqlDialect);
    // Without a server to ask, the key gets utf8mb4_bin, and the warning says what it still merges.
    expect(sql).toContain('`code` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
    expect(sql).toMatch(/-- warning: column code: utf8mb4_bin, .*ignores trailing spaces: use utf8mb4_nopad_bin on MariaDB 10\.2\+, utf8mb4_0900_bin on MySQL 8\.0\.17\+/);
    expect(sql).toContain('KEY `tags_label` (`label`(255))');
    expect(sql).not.toContain('UNIQUE KEY `tags_label`');
    // The AUTO_INCREMENT column must lead an index in MySQL.
    expect(sql).toContain('`n` int NOT NULL AUTO_INCREMENT');
    expect(sql).toContain('KEY `n_auto_increment` (`n`)');
  });

  it('names every column that does not map, and gives no plan for its table', () => {
    const t = table('trips', [col('id', 'bigint', { nullable: false }), col('took', 'interval'), col('area', 'polygon')], ['id']);
    const { plan, problems } = translateTable(t, 'postgres', mysqlDialect);
    expect(plan).toBeUndefined();
    expect(problems.map((p) => `${p.table}.${p.column}`)).toEqual(['trips.took', 'trips.area']);
    expect(problems[0]?.reason).toMatch(/interval/);
  });

  it('quotes hostile identifiers and keeps them out of comments', () => {
    const name = 'a"; DROP TABLE x;--\nDROP TABLE y; `z`';
    const t = table(name, [col('we"ird`', 'integer', { nullable: false })], ['we"ird`']);
    const pg = renderTableScript(translateTable(t, 'postgres', postgresDialect).plan!, postgresDialect);
    expect(pg.split('\n')[0]).toBe('-- table a"; DROP TABLE x;--\\u000aDROP TABLE y; `z` (postgres → postgres)');
    expect(pg).toContain('CREATE TABLE "a""; DROP TABLE x;--\nDROP TABLE y; `z`" (');
    const my = renderTableScript(translateTable(t, 'postgres', mysqlDialect).plan!, mysqlDialect);
    expect(my).toContain('CREATE TABLE `a"; DROP TABLE x;--\nDROP TABLE y; ``z``` (');
    expect(my).toContain('`we"ird``` int NOT NULL');
  });

  it('PostgreSQL → PostgreSQL keeps enum types, expression and partial indexes', () => {
    const t = table(
      'pets',
      [col('id', 'integer', { nullable: false }), col('mood', 'mood', { isEnum: true, enumType: { name: 'mood', labels: ['happy', "it's"] } }), col('name', 'text')],
      ['id'],
      [
        { name: 'pets_lower', unique: true, parts: [{ column: undefined, expression: 'lower(name)' }], predicate: 'name IS NOT NULL' },
        { name: 'pets_name_trgm', unique: false, parts: [{ column: 'name' }], method: 'gin' },
      ],
    );
    const sql = renderTableScript(translateTable(t, 'postgres', postgresDialect).plan!, postgresDialect);
    expect(sql).toContain(`CREATE TYPE "mood" AS ENUM ('happy', 'it''s');`);
    expect(sql).toContain('"mood" "mood"');
    expect(sql).toContain('CREATE UNIQUE INDEX "pets_lower" ON "pets" ((lower(name))) WHERE name IS NOT NULL;');
    expect(sql).toContain('CREATE INDEX "pets_name_trgm" ON "pets" USING "gin" ("name");');
  });
});

describe('translateTable: key collations', () => {
  const keyed = table(
    'tkey',
    [col('s', 'text', { nullable: false }), col('email', 'character varying(100)'), col('note', 'text'), col('v', 'integer')],
    ['s'],
    [{ name: 'tkey_email', unique: true, parts: [{ column: 'email' }] }],
  );

  it.each<[string, MysqlServer, string]>([
    ['MariaDB', MARIADB, 'utf8mb4_nopad_bin'],
    ['MySQL 8', MYSQL8, 'utf8mb4_0900_bin'],
  ])('PostgreSQL → %s: key and unique-index text columns compare exactly (%s), other columns keep the default', (_, srv, exact) => {
    const dialect = mysqlDialectFor(srv);
    const sql = renderTableScript(translateTable(keyed, 'postgres', dialect).plan!, dialect);
    expect(sql).toContain(`\`s\` varchar(255) CHARACTER SET utf8mb4 COLLATE ${exact} NOT NULL`);
    expect(sql).toContain(`\`email\` varchar(100) CHARACTER SET utf8mb4 COLLATE ${exact} NULL`);
    expect(sql).toContain('`note` longtext NULL');
    expect(sql).toContain(`-- warning: column s: ${exact} (exact, no padding), since postgres tells apart keys that differ only in letter case or trailing spaces`);
  });

  it('PostgreSQL → MySQL 5.7: utf8mb4_bin, with a warning that trailing spaces still collide', () => {
    const dialect = mysqlDialectFor(MYSQL57);
    const sql = renderTableScript(translateTable(keyed, 'postgres', dialect).plan!, dialect);
    expect(sql).toContain('`s` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
    expect(sql).toMatch(/-- warning: column s: utf8mb4_bin, .*no NO PAD binary collation, so values differing only in trailing spaces still collide/);
  });

  it('MariaDB → MariaDB: a key column keeps its own collation (a binary key stays binary)', () => {
    const t = table('codes', [col('code', 'varchar(20)', { nullable: false, collation: BIN }), col('name', 'varchar(20)', { collation: GENERAL_CI })], ['code'], [
      { name: 'name', unique: true, parts: [{ column: 'name' }] },
    ]);
    const dialect = mysqlDialectFor(MARIADB);
    const sql = renderTableScript(translateTable(t, 'mysql', dialect).plan!, dialect);
    expect(sql).toContain('`code` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
    expect(sql).toContain('`name` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL');
  });

  it('MySQL 8 → MariaDB: a binary key collation MariaDB lacks becomes its exact one, with a warning', () => {
    const t = table('codes', [col('code', 'varchar(20)', { nullable: false, collation: { name: 'utf8mb4_0900_bin', equality: 'exact', padSpace: false, charset: 'utf8mb4' } })], ['code']);
    const dialect = mysqlDialectFor(MARIADB);
    const sql = renderTableScript(translateTable(t, 'mysql', dialect).plan!, dialect);
    expect(sql).toContain('`code` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL');
    expect(sql).toMatch(/-- warning: column code: utf8mb4_nopad_bin \(exact, no padding\), since utf8mb4_0900_bin does not exist on this server/);
  });

  it('MariaDB → PostgreSQL: a case-insensitive key also gets a unique index over lower(rtrim()), so new refuses what old would merge', () => {
    const t = table(
      'accounts',
      [col('id', 'int', { nullable: false }), col('email', 'varchar(100)', { nullable: false, collation: GENERAL_CI }), col('code', 'varchar(10)', { collation: BIN }), col('tag', 'char(4)', { collation: BIN })],
      ['id'],
      [
        { name: 'email', unique: true, parts: [{ column: 'email' }] },
        { name: 'code_tag', unique: true, parts: [{ column: 'code' }, { column: 'tag' }, { column: 'id' }] },
      ],
    );
    const sql = renderTableScript(translateTable(t, 'mysql', postgresDialect).plan!, postgresDialect);
    expect(sql).toContain('CREATE UNIQUE INDEX "accounts_email" ON "accounts" ("email");');
    expect(sql).toContain('CREATE UNIQUE INDEX "accounts_email_fold" ON "accounts" ((lower(rtrim("email"))));');
    // utf8mb4_bin only pads; char(4) pads on PostgreSQL as well.
    expect(sql).toContain('CREATE UNIQUE INDEX "accounts_code_tag_fold" ON "accounts" ((rtrim("code")), "tag", "id");');
    expect(sql).toMatch(/-- warning: index accounts_email_fold: added, unique over lower\(rtrim\("email"\)\): mysql's utf8mb4_general_ci treats values differing only in letter case or trailing spaces as one key/);
    expect(sql).not.toContain('accounts_pkey_fold');
  });
});

describe('translateTable: domains', () => {
  const t = table('orders', [col('id', 'integer', { nullable: false, domain: 'posint', domainType: { name: 'posint', base: 'integer', notNull: false, checks: [{ name: 'posint_check', sql: 'CHECK (VALUE > 0)' }] } })], ['id']);

  it('PostgreSQL → PostgreSQL keeps the domain, created before the table', () => {
    const sql = renderTableScript(translateTable(t, 'postgres', postgresDialect).plan!, postgresDialect);
    expect(sql).toContain('CREATE DOMAIN "posint" AS integer CONSTRAINT "posint_check" CHECK (VALUE > 0);');
    expect(sql).toContain('"id" "posint" NOT NULL');
  });

  it('PostgreSQL → MySQL maps it as its base type and says its constraints are not carried over', () => {
    const sql = renderTableScript(translateTable(t, 'postgres', mysqlDialect).plan!, mysqlDialect);
    expect(sql).toContain('`id` int NOT NULL');
    expect(sql).toContain('-- warning: column id: domain posint becomes int; its constraints (CHECK, NOT NULL, default) are not carried over');
  });
});

describe('commentText', () => {
  it('escapes line breaks and control characters', () => {
    expect(commentText('a\nb\r\u2028c\u0000')).toBe('a\\u000ab\\u000d\\u2028c\\u0000');
  });
});
