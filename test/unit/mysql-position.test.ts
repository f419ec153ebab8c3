import { describe, expect, it } from 'vitest';
import { advanceGtidPosition, binlogDistance, comparePositions, fileIndex, formatPosition, parsePosition } from '../../src/engines/mysql/position.js';
import { bitString, unpadded, shortestFloat32, toNeutral } from '../../src/engines/mysql/binlog-values.js';
import { parseDdl } from '../../src/engines/mysql/binlog-ddl.js';

describe('MySQL binlog positions', () => {
  it('parses and formats file:offset with an optional GTID position', () => {
    expect(parsePosition('binlog.000003:1234')).toEqual({ file: 'binlog.000003', offset: 1234 });
    expect(parsePosition('binlog.000003:1234#0-1-10,1-2-5')).toEqual({ file: 'binlog.000003', offset: 1234, gtid: '0-1-10,1-2-5' });
    expect(formatPosition({ file: 'mysql-bin.000001', offset: 4 })).toBe('mysql-bin.000001:4');
    expect(formatPosition(parsePosition('b.000002:99#0-1-18446744073709551615'))).toBe('b.000002:99#0-1-18446744073709551615');
    expect(() => parsePosition('0/16B3748')).toThrow(/not a MySQL\/MariaDB binlog position/);
    expect(fileIndex('binlog.000012')).toBe(12);
  });

  it.each([
    ['binlog.000001:500', 'binlog.000001:500', 0],
    ['binlog.000001:500', 'binlog.000001:501', -1],
    ['binlog.000001:9999', 'binlog.000002:4', -1],
    // numeric, not textual: 1000000 follows 999999 even though it has more digits
    ['binlog.999999:4', 'binlog.1000000:4', -1],
    ['binlog.000003:4', 'binlog.000002:900000', 1],
    // the GTID suffix never takes part in the order
    ['binlog.000001:500#0-1-99', 'binlog.000001:500#0-1-3', 0],
    ['binlog.000001:400#0-1-99', 'binlog.000001:500', -1],
  ])('compare(%s, %s) = %i', (a, b, want) => {
    expect(Math.sign(comparePositions(a, b))).toBe(want);
    expect(Math.sign(comparePositions(b, a))).toBe(-want || 0);
  });

  it('measures distance in bytes, across files with their sizes, never negative', () => {
    const sizes = new Map([
      ['binlog.000001', 1000],
      ['binlog.000002', 5000],
      ['binlog.000003', 300],
    ]);
    expect(binlogDistance('binlog.000001:100', 'binlog.000001:600', sizes)).toBe(500);
    expect(binlogDistance('binlog.000001:600', 'binlog.000001:100', sizes)).toBe(0);
    expect(binlogDistance('binlog.000001:900', 'binlog.000003:250', sizes)).toBe(100 + 5000 + 250);
    // unknown sizes (purged files, no listing): an underestimate
    expect(binlogDistance('binlog.000001:900', 'binlog.000003:250', new Map())).toBe(250);
  });

  it('advances a MariaDB GTID position per domain, keeping sequence numbers as text', () => {
    expect(advanceGtidPosition(undefined, '0-1-1')).toBe('0-1-1');
    expect(advanceGtidPosition('0-1-10,1-2-5', '1-2-6')).toBe('0-1-10,1-2-6');
    expect(advanceGtidPosition('1-2-5', '0-1-18446744073709551615')).toBe('0-1-18446744073709551615,1-2-5');
  });

  it('H8: keeps every GTID domain (and MySQL sets with holes) intact; orders by file:offset only', () => {
    // Two MariaDB domains advancing interleaved: each commit replaces only its own domain's entry.
    let gtid: string | undefined = '0-1-10,1-1-5';
    for (const g of ['1-1-6', '0-1-11', '1-1-7', '2-1-1', '0-1-12']) gtid = advanceGtidPosition(gtid, g);
    expect(gtid).toBe('0-1-12,1-1-7,2-1-1');
    expect(advanceGtidPosition('0-1-10,10-1-5,2-1-3', '1-1-1')).toBe('0-1-10,1-1-1,2-1-3,10-1-5'); // numeric domain order
    const p = formatPosition({ file: 'binlog.000004', offset: 77, gtid: '0-1-10,1-1-5' });
    expect(p).toBe('binlog.000004:77#0-1-10,1-1-5');
    expect(parsePosition(p)).toEqual({ file: 'binlog.000004', offset: 77, gtid: '0-1-10,1-1-5' });
    // A MySQL GTID set with a hole (8 missing) and colons inside: never flattened, never read as the offset.
    const mysqlSet = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7:9-10,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3';
    expect(parsePosition(`binlog.000002:1234#${mysqlSet}`)).toEqual({ file: 'binlog.000002', offset: 1234, gtid: mysqlSet });
    expect(comparePositions('binlog.000002:1234#0-1-12,1-1-1', 'binlog.000002:1300#0-1-11,1-1-9')).toBe(-1);
  });
});

describe('MySQL values in neutral form', () => {
  const col = (columnType: string) => ({ name: 'c', columnType });
  it('never lets a number through', () => {
    expect(toNeutral('t', col('bigint(20) unsigned'), '18446744073709551615')).toBe('18446744073709551615');
    expect(toNeutral('t', col('int(11)'), -2147483648)).toBe('-2147483648');
    expect(toNeutral('t', col('tinyint(1)'), 1)).toBe('1');
    expect(toNeutral('t', col('year(4)'), 2024)).toBe('2024');
    expect(toNeutral('t', col('decimal(65,30)'), '-0.000000000000000000000000000001')).toBe('-0.000000000000000000000000000001');
  });
  it('prints floats as the shortest text of their own width', () => {
    expect(toNeutral('t', col('float'), Math.fround(0.1))).toBe('0.1');
    expect(toNeutral('t', col('float'), 0.1)).toBe('0.1');
    expect(toNeutral('t', col('double'), 0.1)).toBe('0.1');
    expect(shortestFloat32(Math.fround(3.4028234663852886e38))).toBe('3.4028235e+38');
    expect(toNeutral('t', col('double'), '1e300')).toBe('1e+300');
  });
  it('turns BIT into bit text of the declared width and keeps bytes as Buffers', () => {
    expect(bitString(Buffer.from([0x05]), 3)).toBe('101');
    expect(toNeutral('t', col('bit(10)'), Buffer.from([0x02, 0x01]))).toBe('1000000001');
    expect(toNeutral('t', col('varbinary(4)'), Buffer.from([0, 255]))).toEqual(Buffer.from([0, 255]));
  });
  it('refuses what has no neutral form', () => {
    expect(() => toNeutral('t', col('point'), { x: 1, y: 2 })).toThrow(/no neutral form/);
  });
  it('drops ZEROFILL padding, which a query prints and the binlog does not', () => {
    expect(toNeutral('t', col('decimal(10,2) unsigned zerofill'), '00000012.50')).toBe('12.50');
    expect(toNeutral('t', col('decimal(10,2) unsigned zerofill'), '12.50')).toBe('12.50');
    expect(toNeutral('t', col('decimal(10,2) unsigned zerofill'), '00000000.00')).toBe('0.00');
    expect(toNeutral('t', col('bigint(20) unsigned zerofill'), '00000000000000000012')).toBe('12');
    expect(toNeutral('t', col('bigint(20) unsigned zerofill'), '00000000000000000000')).toBe('0');
    expect(toNeutral('t', col('int(10) unsigned zerofill'), 12)).toBe('12');
    expect(toNeutral('t', col('double unsigned zerofill'), 3.5)).toBe('3.5');
    // Text is never touched, and neither is a DECIMAL without ZEROFILL.
    expect(toNeutral('t', col('varchar(10)'), '0012')).toBe('0012');
    expect(toNeutral('t', col('decimal(10,2)'), '0.50')).toBe('0.50');
    expect(unpadded('000.5')).toBe('0.5');
  });
});

describe('DDL statements in the binlog', () => {
  it.each([
    ['ALTER TABLE `items` ADD COLUMN x int', { kind: 'alter', tables: [{ table: 'items' }] }],
    ['alter online ignore table shop.items drop column x', { kind: 'alter', tables: [{ schema: 'shop', table: 'items' }] }],
    ['TRUNCATE TABLE `a``b`', { kind: 'truncate', tables: [{ table: 'a`b' }] }],
    ['truncate items', { kind: 'truncate', tables: [{ table: 'items' }] }],
    ['DROP TABLE IF EXISTS `x`,`db`.`y` /* generated by server */', { kind: 'drop', tables: [{ table: 'x' }, { schema: 'db', table: 'y' }] }],
    ['RENAME TABLE a TO b, c TO d', { kind: 'rename', tables: [{ table: 'a' }, { table: 'b' }, { table: 'c' }, { table: 'd' }] }],
    ['CREATE TABLE IF NOT EXISTS t2 LIKE items', { kind: 'create', tables: [{ table: 't2' }] }],
    ['/* hint */ ALTER TABLE items COMMENT \'DROP TABLE orders\'', { kind: 'alter', tables: [{ table: 'items' }] }],
  ])('%s', (sql, want) => {
    expect(parseDdl(sql)).toEqual(want);
  });
  it('ignores other statements', () => {
    expect(parseDdl('CREATE INDEX i ON items (x)')).toBeUndefined();
    expect(parseDdl('INSERT INTO items VALUES (1)')).toBeUndefined();
    expect(parseDdl('CREATE DATABASE x')).toBeUndefined();
  });
});
