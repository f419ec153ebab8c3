import { describe, expect, it } from 'vitest';
import type { EngineKind } from '../../src/model/schema.js';
import type { LogicalType } from '../../src/model/types.js';
import { checkTypeMapping, parseNativeType, translateType } from '../../src/schema/type-rules.js';

const int = (min: bigint, max: bigint): LogicalType => ({ kind: 'integer', min, max });
const I16 = int(-32768n, 32767n);
const I32 = int(-2147483648n, 2147483647n);
const I64 = int(-9223372036854775808n, 9223372036854775807n);
const U64 = int(0n, 18446744073709551615n);
const text = (maxLength: number | null, fixed = false): LogicalType => ({ kind: 'text', maxLength, fixed });
const binary = (maxLength: number | null, fixed = false): LogicalType => ({ kind: 'binary', maxLength, fixed });
const ts = (precision: number, withTimeZone: boolean): LogicalType => ({ kind: 'timestamp', precision, withTimeZone });

describe('parseNativeType: postgres', () => {
  it.each<[string, LogicalType]>([
    ['smallint', I16],
    ['integer', I32],
    ['bigint', I64],
    ['int4', I32],
    ['serial', I32],
    ['bigserial', I64],
    ['numeric(10,2)', { kind: 'decimal', precision: 10, scale: 2 }],
    ['numeric(20)', { kind: 'decimal', precision: 20, scale: 0 }],
    ['numeric(5,-2)', { kind: 'decimal', precision: 5, scale: -2 }],
    ['numeric', { kind: 'decimal', precision: null, scale: null }],
    ['real', { kind: 'float', bits: 32 }],
    ['double precision', { kind: 'float', bits: 64 }],
    ['boolean', { kind: 'boolean' }],
    ['text', text(null)],
    ['character varying(20)', text(20)],
    ['character varying', text(null)],
    ['character(3)', text(3, true)],
    ['bytea', binary(null)],
    ['date', { kind: 'date' }],
    ['time without time zone', { kind: 'time', precision: 6 }],
    ['time(3) without time zone', { kind: 'time', precision: 3 }],
    ['timestamp without time zone', ts(6, false)],
    ['timestamp(3) with time zone', ts(3, true)],
    ['timestamp(0) without time zone', ts(0, false)],
    ['timestamp with time zone', ts(6, true)],
    ['json', { kind: 'json' }],
    ['jsonb', { kind: 'json' }],
    ['uuid', { kind: 'uuid' }],
    ['bit(8)', { kind: 'bit', length: 8 }],
    ['bit varying(8)', { kind: 'varbit', maxLength: 8 }],
    ['bit varying', { kind: 'varbit', maxLength: null }],
    // Tolerated spelling variations: upper case and stray white space.
    ['  Numeric( 10 , 2 ) ', { kind: 'decimal', precision: 10, scale: 2 }],
    ['TIMESTAMP(3)  WITH TIME ZONE', ts(3, true)],
  ])('%s', (spelling, expected) => {
    expect(parseNativeType('postgres', spelling)).toEqual({ ok: true, type: expected });
  });

  it('reads a user-defined enum as an enum with unknown labels', () => {
    expect(parseNativeType('postgres', 'mood', { isEnum: true })).toEqual({ ok: true, type: { kind: 'enum', values: null } });
  });

  it.each([
    'interval',
    'interval day to second',
    'money',
    'point',
    'xml',
    'tsvector',
    'int4range',
    'tstzmultirange',
    'cidr',
    'hstore',
    'integer[]',
    'character varying(20)[]',
    'time with time zone',
    'time(3) with time zone',
    'regclass',
    'mood',
    'constructor',
    'integer(5)',
  ])('refuses %s, naming it and the other engine', (spelling) => {
    const parsed = parseNativeType('postgres', spelling);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.reason).toContain(spelling);
      expect(parsed.reason).toMatch(/exclude the table or change the column type/);
    }
  });

  it('gives the documented reason for interval', () => {
    expect(parseNativeType('postgres', 'interval')).toEqual({
      ok: false,
      reason: 'interval has no equivalent on mysql; exclude the table or change the column type',
    });
  });

  it('says in user terms why an unknown name does not map, never naming internal options', () => {
    const parsed = parseNativeType('postgres', 'mood');
    expect(parsed).toEqual({
      ok: false,
      reason:
        'postgres type mood is not one Tandem maps (composite, range and extension types are not mapped, only built-in types, enums and domains over them); exclude the table or change the column type',
    });
    const malformed = parseNativeType('postgres', 'integer(5)');
    expect(malformed).toEqual({ ok: false, reason: 'postgres type integer(5) is not one Tandem maps; exclude the table or change the column type' });
  });

  it('reads inet as an IP address of either family, with a netmask', () => {
    expect(parseNativeType('postgres', 'inet')).toEqual({ ok: true, type: { kind: 'inet', family: null, netmask: true } });
  });
});

describe('parseNativeType: mysql', () => {
  it.each<[string, LogicalType]>([
    ['inet6', { kind: 'inet', family: 6, netmask: false }],
    ['inet4', { kind: 'inet', family: 4, netmask: false }],
    ['tinyint(1)', { kind: 'boolean' }],
    ['bool', { kind: 'boolean' }],
    ['boolean', { kind: 'boolean' }],
    ['tinyint(4)', int(-128n, 127n)],
    ['tinyint', int(-128n, 127n)],
    ['tinyint(3) unsigned', int(0n, 255n)],
    ['tinyint(1) unsigned', int(0n, 255n)],
    ['tinyint(1) zerofill', int(0n, 255n)],
    ['smallint(6)', I16],
    ['smallint unsigned', int(0n, 65535n)],
    ['mediumint(9)', int(-8388608n, 8388607n)],
    ['mediumint', int(-8388608n, 8388607n)],
    ['mediumint(8) unsigned', int(0n, 16777215n)],
    ['int(11)', I32],
    ['int', I32],
    ['int(10) unsigned', int(0n, 4294967295n)],
    ['int unsigned', int(0n, 4294967295n)],
    ['int(10) unsigned zerofill', int(0n, 4294967295n)],
    ['int zerofill', int(0n, 4294967295n)],
    ['bigint(20)', I64],
    ['bigint', I64],
    ['bigint(20) unsigned', U64],
    ['bigint unsigned', U64],
    ['year(4)', int(0n, 2155n)],
    ['year', int(0n, 2155n)],
    ['decimal(65,30)', { kind: 'decimal', precision: 65, scale: 30 }],
    ['decimal(10,2)', { kind: 'decimal', precision: 10, scale: 2 }],
    ['decimal(10)', { kind: 'decimal', precision: 10, scale: 0 }],
    ['decimal(10,2) unsigned', { kind: 'decimal', precision: 10, scale: 2 }],
    ['float', { kind: 'float', bits: 32 }],
    ['float unsigned', { kind: 'float', bits: 32 }],
    ['double', { kind: 'float', bits: 64 }],
    ['double precision', { kind: 'float', bits: 64 }],
    ['char(36)', text(36, true)],
    ['char', text(1, true)],
    ['varchar(255)', text(255)],
    ['tinytext', text(255)],
    ['text', text(65535)],
    ['mediumtext', text(16777215)],
    ['longtext', text(4294967295)],
    ['binary(16)', binary(16, true)],
    ['varbinary(255)', binary(255)],
    ['tinyblob', binary(255)],
    ['blob', binary(65535)],
    ['mediumblob', binary(16777215)],
    ['longblob', binary(4294967295)],
    ['date', { kind: 'date' }],
    ['datetime', ts(0, false)],
    ['datetime(6)', ts(6, false)],
    ['timestamp', ts(0, true)],
    ['timestamp(6)', ts(6, true)],
    ['time', { kind: 'time', precision: 0 }],
    ['time(6)', { kind: 'time', precision: 6 }],
    ['json', { kind: 'json' }],
    ['uuid', { kind: 'uuid' }],
    ["enum('a','b')", { kind: 'enum', values: ['a', 'b'] }],
    ["enum('Has Space','it''s','a,b','x)')", { kind: 'enum', values: ['Has Space', "it's", 'a,b', 'x)'] }],
    ["set('x','y')", { kind: 'set', values: ['x', 'y'] }],
    ['bit(1)', { kind: 'bit', length: 1 }],
    ['bit(64)', { kind: 'bit', length: 64 }],
    ['INT(11) UNSIGNED', int(0n, 4294967295n)],
  ])('%s', (spelling, expected) => {
    expect(parseNativeType('mysql', spelling)).toEqual({ ok: true, type: expected });
  });

  it.each(['geometry', 'point', 'polygon', 'linestring', 'multipolygon', 'geometrycollection', 'vector(3)', 'inet6(4)', 'float(7,4)', 'double(10,2)', 'varchar', 'text unsigned', 'year(2)', 'hstore'])(
    'refuses %s, naming it and the other engine',
    (spelling) => {
      const parsed = parseNativeType('mysql', spelling);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.reason).toContain(spelling);
        expect(parsed.reason).toMatch(/postgres|mysql type/);
      }
    },
  );
});

type Case = [EngineKind, string, EngineKind, string];
const ENUM = { fromIsEnum: true };
const TO_ENUM = { toIsEnum: true };

describe('checkTypeMapping: accepted without warning', () => {
  it.each<Case>([
    // integers: wider or equal ranges
    ['mysql', 'int(11)', 'postgres', 'integer'],
    ['mysql', 'int(10) unsigned', 'postgres', 'bigint'],
    ['mysql', 'smallint unsigned', 'postgres', 'integer'],
    ['mysql', 'mediumint', 'postgres', 'integer'],
    ['mysql', 'tinyint(3) unsigned', 'postgres', 'smallint'],
    ['mysql', 'year', 'postgres', 'smallint'],
    ['postgres', 'smallint', 'mysql', 'smallint(6)'],
    ['postgres', 'integer', 'mysql', 'bigint'],
    ['postgres', 'integer', 'postgres', 'bigint'],
    ['mysql', 'int', 'mysql', 'int(11)'],
    // integers into decimals with enough integer digits
    ['mysql', 'bigint(20) unsigned', 'postgres', 'numeric(20)'],
    ['mysql', 'bigint(20) unsigned', 'postgres', 'numeric(20,0)'],
    ['mysql', 'bigint(20) unsigned', 'postgres', 'numeric'],
    ['postgres', 'integer', 'mysql', 'decimal(12,2)'],
    // booleans
    ['postgres', 'boolean', 'mysql', 'tinyint(1)'],
    ['mysql', 'tinyint(1)', 'postgres', 'boolean'],
    ['mysql', 'bool', 'postgres', 'smallint'],
    ['postgres', 'boolean', 'mysql', 'int'],
    // decimals
    ['mysql', 'decimal(10,2)', 'postgres', 'numeric(10,2)'],
    ['mysql', 'decimal(10,2)', 'postgres', 'numeric(12,4)'],
    ['mysql', 'decimal(65,30)', 'postgres', 'numeric'],
    ['postgres', 'numeric(10,2)', 'postgres', 'numeric'],
    // floats
    ['mysql', 'float', 'postgres', 'real'],
    ['mysql', 'float', 'postgres', 'double precision'],
    ['mysql', 'double', 'postgres', 'double precision'],
    // text
    ['mysql', 'varchar(255)', 'postgres', 'character varying(255)'],
    ['mysql', 'varchar(255)', 'postgres', 'text'],
    ['mysql', 'longtext', 'postgres', 'text'],
    ['mysql', 'char(36)', 'postgres', 'character(36)'],
    ['mysql', 'tinytext', 'postgres', 'character varying(255)'],
    ['postgres', 'text', 'mysql', 'longtext'],
    ['postgres', 'character varying(100)', 'mysql', 'varchar(200)'],
    ['postgres', 'character varying(100)', 'mysql', 'text'],
    ['postgres', 'character(3)', 'mysql', 'varchar(3)'],
    // binary
    ['mysql', 'binary(16)', 'postgres', 'bytea'],
    ['mysql', 'longblob', 'postgres', 'bytea'],
    ['postgres', 'bytea', 'mysql', 'longblob'],
    ['mysql', 'varbinary(10)', 'mysql', 'blob'],
    // uuid
    ['postgres', 'uuid', 'mysql', 'uuid'],
    ['postgres', 'uuid', 'mysql', 'char(36)'],
    ['postgres', 'uuid', 'mysql', 'varchar(64)'],
    ['mysql', 'uuid', 'postgres', 'text'],
    // IP addresses: MariaDB inet6/inet4 into PostgreSQL inet, or into text long enough for their text
    ['mysql', 'inet6', 'postgres', 'inet'],
    ['mysql', 'inet4', 'postgres', 'inet'],
    ['mysql', 'inet6', 'postgres', 'character varying(39)'],
    ['mysql', 'inet4', 'mysql', 'varchar(15)'],
    ['postgres', 'inet', 'mysql', 'varchar(43)'],
    ['postgres', 'inet', 'postgres', 'text'],
    // dates and times, time zone differences included
    ['mysql', 'datetime(6)', 'mysql', 'datetime(6)'],
    ['postgres', 'time(3) without time zone', 'mysql', 'time(6)'],
    ['postgres', 'timestamp(3) with time zone', 'postgres', 'timestamp(6) without time zone'],
    ['postgres', 'date', 'postgres', 'timestamp without time zone'],
    ['mysql', 'timestamp(3)', 'mysql', 'timestamp(6)'],
    // json
    ['postgres', 'json', 'mysql', 'json'],
    ['postgres', 'jsonb', 'mysql', 'json'],
    ['mysql', 'json', 'postgres', 'jsonb'],
    ['mysql', 'json', 'postgres', 'json'],
    ['postgres', 'json', 'postgres', 'jsonb'],
    ['postgres', 'jsonb', 'postgres', 'text'],
    ['postgres', 'jsonb', 'mysql', 'longtext'],
    // enums and sets
    ['mysql', "enum('a','b')", 'postgres', 'text'],
    ['mysql', "enum('a','bb')", 'postgres', 'character varying(2)'],
    ['mysql', "enum('a','b')", 'mysql', "enum('b','a','c')"],
    ['mysql', "set('x','y')", 'postgres', 'character varying(3)'],
    ['mysql', "set('x','y')", 'mysql', "set('x','y','z')"],
    // bits
    ['mysql', 'bit(1)', 'postgres', 'bit(1)'],
    ['mysql', 'bit(8)', 'postgres', 'bit(16)'],
    ['postgres', 'bit(8)', 'mysql', 'bit(64)'],
    ['postgres', 'bit(8)', 'postgres', 'bit varying(8)'],
    ['postgres', 'bit varying(8)', 'postgres', 'bit varying'],
    // identical types on one engine, even those with no mapping elsewhere
    ['postgres', 'interval', 'postgres', 'interval'],
    ['postgres', 'integer[]', 'postgres', 'integer[]'],
    ['postgres', 'tsvector', 'postgres', 'TSVECTOR'],
    ['mysql', 'geometry', 'mysql', 'geometry'],
    ['mysql', "enum('A','b')", 'mysql', "ENUM('A','b')"],
  ])('%s %s → %s %s', (fromEngine, from, toEngine, to) => {
    expect(checkTypeMapping(fromEngine, from, toEngine, to)).toEqual({ ok: true });
  });

  it('accepts the same postgres enum', () => {
    expect(checkTypeMapping('postgres', 'mood', 'postgres', 'mood', { fromIsEnum: true, toIsEnum: true })).toEqual({ ok: true });
  });

  it.each<[Case, { fromIsEnum?: boolean; toIsEnum?: boolean }]>([
    [['postgres', 'mood', 'mysql', 'text'], ENUM],
    [['postgres', 'mood', 'postgres', 'character varying(63)'], ENUM],
  ])('%j (enum options %j)', ([fromEngine, from, toEngine, to], opts) => {
    expect(checkTypeMapping(fromEngine, from, toEngine, to, opts)).toEqual({ ok: true });
  });
});

describe('checkTypeMapping: accepted with a warning', () => {
  it.each<[...Case, RegExp]>([
    ['postgres', 'numeric', 'mysql', 'decimal(65,30)', /outside decimal\(65,30\) and NaN\/infinity will be refused/],
    ['postgres', 'numeric', 'postgres', 'numeric(10,2)', /outside numeric\(10,2\) and NaN\/infinity/],
    ['postgres', 'numeric(10,2)', 'mysql', 'decimal(10,2)', /NaN/],
    ['postgres', 'double precision', 'mysql', 'double', /NaN and infinity/],
    ['postgres', 'real', 'mysql', 'float', /NaN/],
    ['postgres', 'text', 'mysql', 'varchar(255)', /longer than 255 characters will be refused/],
    ['postgres', 'character varying', 'mysql', 'mediumtext', /longer than 16777215/],
    ['postgres', 'bytea', 'mysql', 'blob', /longer than 65535 bytes will be refused/],
    ['postgres', 'character varying(20000)', 'mysql', 'text', /65535 bytes, 20000 characters can take 80000/],
    ['postgres', 'character varying(3)', 'mysql', 'char(3)', /fixed-length/],
    ['postgres', 'bytea', 'mysql', 'binary(16)', /right-padded with zero bytes/],
    ['mysql', 'char(36)', 'postgres', 'uuid', /not UUIDs will be refused/],
    ['mysql', 'varchar(64)', 'postgres', 'uuid', /not UUIDs will be refused/],
    ['postgres', 'text', 'postgres', 'uuid', /not UUIDs/],
    ['mysql', 'date', 'postgres', 'date', /zero dates/],
    ['mysql', 'datetime', 'postgres', 'timestamp(0) without time zone', /zero dates/],
    ['mysql', 'datetime(6)', 'postgres', 'timestamp with time zone', /zero dates/],
    ['mysql', 'timestamp(6)', 'postgres', 'timestamp(6) without time zone', /zero dates/],
    ['mysql', 'date', 'postgres', 'timestamp with time zone', /zero dates/],
    ['postgres', 'date', 'mysql', 'date', /1000-01-01\.\.9999-12-31.*infinity/],
    ['postgres', 'timestamp(3) with time zone', 'mysql', 'datetime(3)', /infinity/],
    ['postgres', 'timestamp without time zone', 'mysql', 'timestamp(6)', /2038-01-19/],
    ['mysql', 'datetime', 'mysql', 'timestamp', /2038-01-19/],
    ['mysql', 'time(6)', 'postgres', 'time without time zone', /negative or longer durations/],
    ['postgres', 'inet', 'mysql', 'inet6', /^IPv4 addresses and addresses with a netmask \(10\.0\.0\.0\/8\) will be refused at apply time$/],
    ['postgres', 'inet', 'mysql', 'inet4', /^IPv6 addresses and addresses with a netmask/],
  ])('%s %s → %s %s', (fromEngine, from, toEngine, to, warning) => {
    const verdict = checkTypeMapping(fromEngine, from, toEngine, to);
    expect(verdict.ok).toBe(true);
    expect(verdict.ok && verdict.warning).toMatch(warning);
  });

  it.each<[Case, { fromIsEnum?: boolean; toIsEnum?: boolean }]>([
    [['postgres', 'mood', 'mysql', "enum('happy','sad')"], ENUM],
    [['mysql', "enum('happy','sad')", 'postgres', 'mood'], TO_ENUM],
    [['postgres', 'mood', 'postgres', 'feeling'], { fromIsEnum: true, toIsEnum: true }],
  ])('enum labels it cannot see: %j', ([fromEngine, from, toEngine, to], opts) => {
    const verdict = checkTypeMapping(fromEngine, from, toEngine, to, opts);
    expect(verdict.ok && verdict.warning).toMatch(/enum labels cannot be compared/);
  });

  it('warns that long postgres enum labels may not fit a short column', () => {
    const verdict = checkTypeMapping('postgres', 'mood', 'mysql', 'varchar(10)', ENUM);
    expect(verdict.ok && verdict.warning).toMatch(/longer than 10 characters/);
  });

  it('keeps the time zone difference silent', () => {
    expect(checkTypeMapping('mysql', 'timestamp(3)', 'mysql', 'datetime(3)')).toEqual({ ok: true });
    expect(checkTypeMapping('postgres', 'timestamp with time zone', 'postgres', 'timestamp without time zone')).toEqual({ ok: true });
  });
});

describe('checkTypeMapping: refused', () => {
  it.each<[...Case, string[]]>([
    ['mysql', 'bigint(20) unsigned', 'postgres', 'bigint', ['18446744073709551615', 'numeric(20,0)']],
    ['mysql', 'bigint unsigned', 'mysql', 'bigint', ['18446744073709551615', 'bigint unsigned']],
    ['mysql', 'int(10) unsigned', 'postgres', 'integer', ['4294967295', 'use bigint']],
    ['postgres', 'integer', 'mysql', 'smallint', ['2147483647', 'use int']],
    ['postgres', 'smallint', 'mysql', 'tinyint(4)', ['32767', 'use smallint']],
    ['mysql', 'year', 'mysql', 'tinyint unsigned', ['2155']],
    ['mysql', 'bigint(20) unsigned', 'postgres', 'numeric(19)', ['20 integer digits', 'numeric(20,0)']],
    ['postgres', 'bigint', 'mysql', 'decimal(20,2)', ['19 integer digits', 'decimal(19,0)']],
    ['mysql', 'int(4)', 'postgres', 'boolean', ['integer → boolean']],
    ['postgres', 'boolean', 'mysql', 'varchar(5)', ['boolean → text', 'tinyint(1)']],
    ['postgres', 'numeric(12,2)', 'mysql', 'decimal(10,2)', ['10 integer digits', 'decimal(12,2)']],
    ['postgres', 'numeric(10,4)', 'mysql', 'decimal(10,2)', ['scale 4', 'decimal(12,4)']],
    ['mysql', 'decimal(10,2)', 'postgres', 'double precision', ['floating point', 'numeric(10,2)']],
    ['mysql', 'decimal(10,2)', 'postgres', 'integer', ['decimal → integer']],
    ['mysql', 'double', 'postgres', 'real', ['single precision', 'double precision']],
    ['postgres', 'integer', 'postgres', 'real', ['integer → floating-point']],
    ['postgres', 'character varying(255)', 'mysql', 'varchar(100)', ['255 characters', 'varchar(255)']],
    ['mysql', 'text', 'postgres', 'character varying(255)', ['65535']],
    ['postgres', 'character(10)', 'postgres', 'character(5)', ['10 characters']],
    ['mysql', 'varbinary(255)', 'mysql', 'varbinary(16)', ['255 bytes']],
    ['mysql', 'blob', 'mysql', 'tinyblob', ['65535 bytes']],
    ['postgres', 'text', 'mysql', 'blob', ['text → binary']],
    ['postgres', 'bytea', 'postgres', 'text', ['binary → text']],
    ['postgres', 'integer', 'mysql', 'varchar(20)', ['integer → text', 'use int']],
    ['mysql', 'varchar(36)', 'postgres', 'integer', ['text → integer']],
    ['mysql', 'varchar(20)', 'postgres', 'uuid', ['20 characters cannot hold a UUID']],
    ['postgres', 'uuid', 'mysql', 'char(32)', ['36 characters', 'char(36)']],
    ['postgres', 'uuid', 'mysql', 'binary(16)', ['UUID → binary']],
    ['postgres', 'timestamp(6) without time zone', 'mysql', 'datetime', ['precision 6', 'precision 0', 'datetime(6)']],
    ['mysql', 'datetime(6)', 'mysql', 'datetime(3)', ['precision 6', 'precision 3']],
    ['postgres', 'time without time zone', 'mysql', 'time', ['precision 6', 'time(6)']],
    ['postgres', 'timestamp without time zone', 'postgres', 'date', ['timestamp → date']],
    ['mysql', 'date', 'postgres', 'time without time zone', ['date → time']],
    ['mysql', 'time', 'postgres', 'timestamp without time zone', ['time → timestamp']],
    ['postgres', 'jsonb', 'mysql', 'text', ['JSON documents', 'use json']],
    ['postgres', 'jsonb', 'postgres', 'character varying(100)', ['JSON documents']],
    ['mysql', 'longtext', 'mysql', 'json', ['text → JSON']],
    ['mysql', "enum('a','b')", 'mysql', "enum('a')", ["'b' missing"]],
    ['mysql', "enum('a','bbbb')", 'postgres', 'character varying(3)', ['4 characters']],
    ['mysql', "set('xx','yy')", 'postgres', 'character varying(4)', ['5 characters']],
    ['mysql', "set('x','y')", 'mysql', "set('x')", ["'y' missing"]],
    ['mysql', "enum('x','y')", 'mysql', "set('x','y')", ['enum → set']],
    ['mysql', 'varchar(10)', 'mysql', "enum('a','b')", ['free text']],
    ['postgres', 'bit(8)', 'mysql', 'bit(4)', ['8 bits', 'bit(8)']],
    ['postgres', 'bit varying(8)', 'mysql', 'bit(8)', ['pad shorter bit strings']],
    ['postgres', 'bit varying(16)', 'postgres', 'bit varying(8)', ['16 bits']],
    ['postgres', 'bit(8)', 'mysql', 'tinyint', ['bit-string → integer']],
    ['postgres', 'interval', 'mysql', 'time', ['interval has no equivalent on mysql']],
    ['mysql', 'geometry', 'postgres', 'bytea', ['geometry has no equivalent on postgres']],
    ['postgres', 'integer', 'mysql', 'point', ['point has no equivalent on postgres']],
    ['mysql', 'inet6', 'mysql', 'inet4', ['IPv6 addresses do not fit an IPv4-only type']],
    ['mysql', 'inet4', 'postgres', 'character varying(10)', ['up to 15 characters']],
    ['postgres', 'inet', 'mysql', 'varchar(39)', ['up to 43 characters', 'varchar(43)']],
    ['mysql', 'varchar(39)', 'postgres', 'inet', ['text → IP address']],
    ['postgres', 'integer[]', 'mysql', 'json', ['integer[]', 'arrays']],
    ['postgres', 'interval', 'postgres', 'interval day to second', ['identical type']],
    ['postgres', 'text', 'postgres', 'tsvector', ['tsvector', 'identical type']],
  ])('%s %s → %s %s', (fromEngine, from, toEngine, to, mentions) => {
    const verdict = checkTypeMapping(fromEngine, from, toEngine, to);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    // The reason must name the offending type: the source, or the target when the target is what is wrong.
    expect(verdict.reason.includes(from) || verdict.reason.includes(to)).toBe(true);
    for (const m of mentions) expect(verdict.reason).toContain(m);
  });

  it('refuses text into a postgres enum', () => {
    const verdict = checkTypeMapping('mysql', 'varchar(10)', 'postgres', 'mood', TO_ENUM);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('postgres enum mood') });
  });

  it('refuses an unknown postgres name, saying which user-defined types map', () => {
    const verdict = checkTypeMapping('postgres', 'mood', 'mysql', 'text');
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('postgres type mood is not one Tandem maps (composite, range and extension types') });
    expect(!verdict.ok && verdict.reason).not.toMatch(/isEnum/);
  });
});

describe('translateType', () => {
  it.each<[string, string]>([
    ['tinyint(1)', 'boolean'],
    ['bool', 'boolean'],
    ['tinyint(4)', 'smallint'],
    ['tinyint unsigned', 'smallint'],
    ['smallint(6)', 'smallint'],
    ['smallint unsigned', 'integer'],
    ['mediumint', 'integer'],
    ['int(11)', 'integer'],
    ['int', 'integer'],
    ['int(10) unsigned', 'bigint'],
    ['int(10) unsigned zerofill', 'bigint'],
    ['bigint(20)', 'bigint'],
    ['bigint(20) unsigned', 'numeric(20,0)'],
    ['bigint unsigned', 'numeric(20,0)'],
    ['decimal(10,2)', 'numeric(10,2)'],
    ['decimal(65,30)', 'numeric(65,30)'],
    ['double', 'double precision'],
    ['float', 'real'],
    ['char(36)', 'character(36)'],
    ['varchar(255)', 'character varying(255)'],
    ['tinytext', 'text'],
    ['text', 'text'],
    ['mediumtext', 'text'],
    ['longtext', 'text'],
    ['binary(16)', 'bytea'],
    ['varbinary(255)', 'bytea'],
    ['tinyblob', 'bytea'],
    ['blob', 'bytea'],
    ['mediumblob', 'bytea'],
    ['longblob', 'bytea'],
    ['date', 'date'],
    ['datetime', 'timestamp(0) without time zone'],
    ['datetime(3)', 'timestamp(3) without time zone'],
    ['timestamp', 'timestamp(0) with time zone'],
    ['timestamp(6)', 'timestamp(6) with time zone'],
    ['time', 'time(0) without time zone'],
    ['time(6)', 'time(6) without time zone'],
    ['year', 'smallint'],
    ['year(4)', 'smallint'],
    ['json', 'jsonb'],
    ["enum('a','b')", 'text'],
    ["set('x','y')", 'text'],
    ['bit(1)', 'bit(1)'],
    ['bit(64)', 'bit(64)'],
    ['uuid', 'uuid'],
    ['inet6', 'inet'],
    ['inet4', 'inet'],
  ])('mysql %s → postgres %s', (from, expected) => {
    expect(translateType('mysql', from, 'postgres')).toEqual({ ok: true, type: expected });
  });

  it.each<[string, string]>([
    ['boolean', 'tinyint(1)'],
    ['smallint', 'smallint'],
    ['integer', 'int'],
    ['bigint', 'bigint'],
    ['numeric(10,2)', 'decimal(10,2)'],
    ['numeric(20)', 'decimal(20,0)'],
    ['numeric(5,-2)', 'decimal(7,0)'],
    ['numeric(2,5)', 'decimal(5,5)'],
    ['numeric', 'decimal(65,30)'],
    ['real', 'float'],
    ['double precision', 'double'],
    ['text', 'longtext'],
    ['character varying(20)', 'varchar(20)'],
    ['character varying(16383)', 'varchar(16383)'],
    ['character varying(20000)', 'mediumtext'],
    ['character varying(10000000)', 'longtext'],
    ['character varying', 'longtext'],
    ['character(3)', 'char(3)'],
    ['character(300)', 'varchar(300)'],
    ['bytea', 'longblob'],
    ['date', 'date'],
    ['time without time zone', 'time(6)'],
    ['time(3) without time zone', 'time(3)'],
    ['time(0) without time zone', 'time'],
    ['timestamp without time zone', 'datetime(6)'],
    ['timestamp(3) without time zone', 'datetime(3)'],
    ['timestamp(3) with time zone', 'datetime(3)'],
    ['timestamp with time zone', 'datetime(6)'],
    ['timestamp(0) with time zone', 'datetime'],
    ['json', 'json'],
    ['jsonb', 'json'],
    ['uuid', 'char(36)'],
    ['bit(8)', 'bit(8)'],
    ['bit(64)', 'bit(64)'],
    ['inet', 'varchar(43)'],
  ])('postgres %s → mysql %s', (from, expected) => {
    expect(translateType('postgres', from, 'mysql')).toEqual({ ok: true, type: expected });
  });

  it('maps a postgres enum to mysql text', () => {
    expect(translateType('postgres', 'mood', 'mysql', ENUM)).toEqual({ ok: true, type: 'text' });
  });

  it.each<[EngineKind, string]>([
    ['postgres', 'interval'],
    ['postgres', 'numeric(1000,2)'],
    ['postgres', 'numeric(40,35)'],
    ['postgres', 'bit(65)'],
    ['postgres', 'bit varying(8)'],
    ['postgres', 'integer[]'],
    ['postgres', 'mood'],
    ['mysql', 'geometry'],
    ['mysql', 'polygon'],
  ])('refuses %s %s, naming the type', (engine, from) => {
    const translated = translateType(engine, from, engine === 'postgres' ? 'mysql' : 'postgres');
    expect(translated.ok).toBe(false);
    expect(!translated.ok && translated.reason).toContain(from);
  });

  it.each<[EngineKind, string]>([
    ['postgres', 'interval'],
    ['postgres', 'numeric(10,2)'],
    ['mysql', 'geometry'],
    ['mysql', 'int(10) unsigned'],
  ])('keeps %s %s on its own engine', (engine, from) => {
    expect(translateType(engine, from, engine)).toEqual({ ok: true, type: from });
  });
});

describe('translateType output always passes checkTypeMapping', () => {
  const MYSQL_TYPES = [
    'tinyint(1)', 'tinyint(4)', 'tinyint(3) unsigned', 'smallint(6)', 'smallint unsigned', 'mediumint(9)', 'mediumint unsigned',
    'int(11)', 'int', 'int(10) unsigned', 'int unsigned zerofill', 'bigint(20)', 'bigint', 'bigint(20) unsigned', 'bigint unsigned',
    'decimal(65,30)', 'decimal(10,2)', 'decimal(10)', 'float', 'double', 'char(36)', 'char(255)', 'varchar(255)', 'varchar(16383)',
    'tinytext', 'text', 'mediumtext', 'longtext', 'binary(16)', 'varbinary(255)', 'tinyblob', 'blob', 'mediumblob', 'longblob',
    'date', 'datetime', 'datetime(6)', 'timestamp', 'timestamp(6)', 'time', 'time(6)', 'year(4)', 'year', 'json', 'uuid',
    "enum('a','b')", "set('x','y')", 'bit(1)', 'bit(64)',
  ];
  const POSTGRES_TYPES = [
    'smallint', 'integer', 'bigint', 'numeric(10,2)', 'numeric(20)', 'numeric(5,-2)', 'numeric(2,5)', 'numeric', 'real',
    'double precision', 'boolean', 'text', 'character varying(20)', 'character varying(20000)', 'character varying',
    'character(3)', 'character(300)', 'bytea', 'date', 'time without time zone', 'time(3) without time zone',
    'timestamp without time zone', 'timestamp(3) with time zone', 'timestamp(0) without time zone', 'json', 'jsonb', 'uuid',
    'bit(8)', 'bit(64)',
  ];
  const cases: Array<[EngineKind, string, EngineKind]> = [
    ...MYSQL_TYPES.flatMap((t): Array<[EngineKind, string, EngineKind]> => [['mysql', t, 'postgres'], ['mysql', t, 'mysql']]),
    ...POSTGRES_TYPES.flatMap((t): Array<[EngineKind, string, EngineKind]> => [['postgres', t, 'mysql'], ['postgres', t, 'postgres']]),
  ];

  it.each(cases)('%s %s → %s', (fromEngine, from, toEngine) => {
    const translated = translateType(fromEngine, from, toEngine);
    expect(translated.ok).toBe(true);
    if (!translated.ok) return;
    expect(checkTypeMapping(fromEngine, from, toEngine, translated.type)).toMatchObject({ ok: true });
  });

  it('holds for a postgres enum', () => {
    const translated = translateType('postgres', 'mood', 'mysql', ENUM);
    expect(translated.ok && checkTypeMapping('postgres', 'mood', 'mysql', translated.type, ENUM)).toEqual({ ok: true });
  });
});
