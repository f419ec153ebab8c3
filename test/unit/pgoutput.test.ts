import { describe, expect, it } from 'vitest';
import { PG_EPOCH_OFFSET_US, UNCHANGED_TOAST, parsePgoutput } from '../../src/engines/postgres/pgoutput.js';

/** Builds messages byte by byte as the protocol documentation lays them out (protocol version 1). */
class Bytes {
  private parts: Buffer[] = [];
  u8(v: number) {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  tag(c: string) {
    return this.u8(c.charCodeAt(0));
  }
  i16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  raw(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  /** A tuple: each value text ('t'), null ('n') or unchanged TOAST ('u'). */
  tuple(values: (string | null | 'u!')[]) {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.tag('n');
      else if (v === 'u!') this.tag('u');
      else {
        const b = Buffer.from(v, 'utf8');
        this.tag('t').u32(b.length).raw(b);
      }
    }
    return this;
  }
  get buf() {
    return Buffer.concat(this.parts);
  }
}

/** 2026-12-01 12:00:00.123456 UTC in microseconds since 1970, and on the wire (since 2000). */
const WHEN_US = 1_796_126_400_123_456n;
const WHEN_WIRE = WHEN_US - PG_EPOCH_OFFSET_US;

describe('pgoutput parser', () => {
  it('reads begin and commit with their LSNs, commit time and xid', () => {
    expect(parsePgoutput(new Bytes().tag('B').u64(0x1_26ab4a0n).u64(WHEN_WIRE).u32(4_000_000_000).buf)).toEqual({ tag: 'begin', finalLsn: 0x1_26ab4a0n, commitTime: WHEN_US, xid: 4_000_000_000 });
    expect(parsePgoutput(new Bytes().tag('C').u8(0).u64(0x1_26ab4a0n).u64(0x1_26ab4d8n).u64(WHEN_WIRE).buf)).toEqual({
      tag: 'commit',
      commitLsn: 0x1_26ab4a0n,
      endLsn: 0x1_26ab4d8n,
      commitTime: WHEN_US,
    });
  });

  it('reads a relation: schema, name, and each column with its type and whether it is part of the key', () => {
    const buf = new Bytes().tag('R').u32(16_384).str('public').str('bestellungen_ä').u8('d'.charCodeAt(0)).i16(3);
    buf.u8(1).str('id').u32(20).u32(0xffffffff);
    buf.u8(0).str('note').u32(25).u32(0xffffffff);
    buf.u8(0).str('amount').u32(1700).u32(786_438);
    expect(parsePgoutput(buf.buf)).toEqual({
      tag: 'relation',
      relationOid: 16_384,
      schema: 'public',
      name: 'bestellungen_ä',
      columns: [
        { name: 'id', typeOid: 20, key: true },
        { name: 'note', typeOid: 25, key: false },
        { name: 'amount', typeOid: 1700, key: false },
      ],
    });
  });

  it('reads an insert: text values (multi-byte UTF-8 included), NULL and an empty string kept apart', () => {
    const msg = parsePgoutput(new Bytes().tag('I').u32(16_384).tag('N').tuple(['42', 'grüße 🚀\ttab', null, '']).buf);
    expect(msg).toEqual({ tag: 'insert', relationOid: 16_384, new: ['42', 'grüße 🚀\ttab', null, ''] });
  });

  it('reads a message where it starts in a larger buffer (after the XLogData header), offsets in errors from there', () => {
    const header = Buffer.alloc(25, 0x77);
    const insert = new Bytes().tag('I').u32(16_384).tag('N').tuple(['42', 'x']).buf;
    expect(parsePgoutput(Buffer.concat([header, insert]), 25)).toEqual({ tag: 'insert', relationOid: 16_384, new: ['42', 'x'] });
    const cut = new Bytes().tag('I').u32(7).tag('N').i16(1).tag('t').u32(10).raw(Buffer.from('abc')).buf;
    expect(() => parsePgoutput(cut)).toThrow(/at byte 13: message ends early/);
    expect(() => parsePgoutput(Buffer.concat([header, cut]), 25)).toThrow(/at byte 13: message ends early/);
  });

  it('reads the three forms of update: new row only, old key, whole old row; unchanged TOAST is marked', () => {
    expect(parsePgoutput(new Bytes().tag('U').u32(7).tag('N').tuple(['1', 'u!']).buf)).toEqual({ tag: 'update', relationOid: 7, key: undefined, old: undefined, new: ['1', UNCHANGED_TOAST] });
    expect(parsePgoutput(new Bytes().tag('U').u32(7).tag('K').tuple(['1', null]).tag('N').tuple(['2', 'x']).buf)).toEqual({
      tag: 'update',
      relationOid: 7,
      key: ['1', null],
      old: undefined,
      new: ['2', 'x'],
    });
    expect(parsePgoutput(new Bytes().tag('U').u32(7).tag('O').tuple(['1', 'old']).tag('N').tuple(['1', 'u!']).buf)).toEqual({
      tag: 'update',
      relationOid: 7,
      key: undefined,
      old: ['1', 'old'],
      new: ['1', UNCHANGED_TOAST],
    });
  });

  it('reads deletes by key and by whole old row', () => {
    expect(parsePgoutput(new Bytes().tag('D').u32(7).tag('K').tuple(['9', null]).buf)).toEqual({ tag: 'delete', relationOid: 7, key: ['9', null] });
    expect(parsePgoutput(new Bytes().tag('D').u32(7).tag('O').tuple(['9', 'gone']).buf)).toEqual({ tag: 'delete', relationOid: 7, old: ['9', 'gone'] });
  });

  it('reads truncate with its relations and options', () => {
    expect(parsePgoutput(new Bytes().tag('T').u32(2).u8(3).u32(7).u32(8).buf)).toEqual({ tag: 'truncate', relationOids: [7, 8], cascade: true, restartIdentity: true });
    expect(parsePgoutput(new Bytes().tag('T').u32(1).u8(0).u32(7).buf)).toEqual({ tag: 'truncate', relationOids: [7], cascade: false, restartIdentity: false });
  });

  it('reads a logical message, and its content outlives the buffer it came in', () => {
    const buf = new Bytes().tag('M').u8(1).u64(0x5000n).str('tandem.marker').u32(5).raw(Buffer.from('drain')).buf;
    const msg = parsePgoutput(buf);
    buf.fill(0);
    expect(msg).toEqual({ tag: 'message', transactional: true, lsn: 0x5000n, prefix: 'tandem.marker', content: Buffer.from('drain') });
  });

  it('passes over origin and type messages', () => {
    expect(parsePgoutput(new Bytes().tag('O').u64(0x10n).str('origin_1').buf)).toEqual({ tag: 'origin' });
    expect(parsePgoutput(new Bytes().tag('Y').u32(90_000).str('public').str('mood').buf)).toEqual({ tag: 'type' });
  });

  it('refuses what it cannot read, naming why', () => {
    expect(() => parsePgoutput(Buffer.from('Z'))).toThrow(/unknown message type 'Z'/);
    expect(() => parsePgoutput(new Bytes().tag('I').u32(7).tag('N').i16(1).tag('t').u32(10).raw(Buffer.from('abc')).buf)).toThrow(/ends early/);
    expect(() => parsePgoutput(new Bytes().tag('I').u32(7).tag('N').i16(1).tag('b').u32(1).raw(Buffer.from([1])).buf)).toThrow(/value kind 'b'/);
    expect(() => parsePgoutput(new Bytes().tag('U').u32(7).tag('K').tuple(['1']).tag('X').buf)).toThrow(/update without its new tuple/);
    expect(() => parsePgoutput(new Bytes().tag('R').u32(7).raw(Buffer.from('public')).buf)).toThrow(/unterminated string/);
  });
});
