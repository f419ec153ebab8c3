// Replication spec: docs/engines/postgres.md
// Message formats: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html (protocol 1)

/** A column value left out of a tuple: unchanged and stored out of line (TOAST), so not logged. */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged toast');

/** A tuple's values in the relation's column order: the server's text, null, or UNCHANGED_TOAST. */
export type PgoutputTuple = (string | null | typeof UNCHANGED_TOAST)[];

export interface PgoutputColumn {
  name: string;
  typeOid: number;
  /** Part of the replica identity (the primary key by default). */
  key: boolean;
}

/** LSNs are 64-bit positions; times are microseconds since 1970-01-01 UTC. */
export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: 'relation'; relationOid: number; schema: string; name: string; columns: PgoutputColumn[] }
  | { tag: 'insert'; relationOid: number; new: PgoutputTuple }
  /** `key`: the old key columns (only key columns are set); `old`: the whole old row (REPLICA IDENTITY FULL). */
  | { tag: 'update'; relationOid: number; key?: PgoutputTuple; old?: PgoutputTuple; new: PgoutputTuple }
  | { tag: 'delete'; relationOid: number; key?: PgoutputTuple; old?: PgoutputTuple }
  | { tag: 'truncate'; relationOids: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { tag: 'origin' }
  | { tag: 'type' };

/** Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch. */
export const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/**
 * Parses one pgoutput message (the payload of an XLogData message). Values stay the server's text, decoded from
 * UTF-8 once and put straight into an array: on a busy stream this runs for every column of every row, so it makes
 * no object per value and no copy of the bytes.
 */
export function parsePgoutput(buf: Buffer, start = 0): PgoutputMessage {
  return new Reader(buf, start).message();
}

class Reader {
  /** Where the message starts: capture passes the XLogData header's end rather than a view of the rest (a Buffer per message). */
  private readonly start: number;

  constructor(
    private readonly b: Buffer,
    private p: number,
  ) {
    this.start = p;
  }

  message(): PgoutputMessage {
    const tag = this.u8();
    switch (tag) {
      case 0x42 /* B */:
        return { tag: 'begin', finalLsn: this.u64(), commitTime: this.time(), xid: this.u32() };
      case 0x43 /* C */: {
        this.u8(); // flags, unused
        return { tag: 'commit', commitLsn: this.u64(), endLsn: this.u64(), commitTime: this.time() };
      }
      case 0x52 /* R */: {
        const relationOid = this.u32();
        const schema = this.cstring();
        const name = this.cstring();
        this.u8(); // replica identity setting: the key flags below say which columns identify a row
        const n = this.i16();
        const columns: PgoutputColumn[] = [];
        for (let i = 0; i < n; i++) {
          const flags = this.u8();
          const colName = this.cstring();
          const typeOid = this.u32();
          this.u32(); // type modifier
          columns.push({ name: colName, typeOid, key: (flags & 1) === 1 });
        }
        return { tag: 'relation', relationOid, schema, name, columns };
      }
      case 0x49 /* I */: {
        const relationOid = this.u32();
        this.expect(0x4e /* N */);
        return { tag: 'insert', relationOid, new: this.tuple() };
      }
      case 0x55 /* U */: {
        const relationOid = this.u32();
        let kind = this.u8();
        let key: PgoutputTuple | undefined;
        let old: PgoutputTuple | undefined;
        if (kind === 0x4b /* K */) key = this.tuple();
        else if (kind === 0x4f /* O */) old = this.tuple();
        if (key || old) kind = this.u8();
        if (kind !== 0x4e /* N */) throw this.malformed(`update without its new tuple (got '${String.fromCharCode(kind)}')`);
        return { tag: 'update', relationOid, key, old, new: this.tuple() };
      }
      case 0x44 /* D */: {
        const relationOid = this.u32();
        const kind = this.u8();
        if (kind === 0x4b /* K */) return { tag: 'delete', relationOid, key: this.tuple() };
        if (kind === 0x4f /* O */) return { tag: 'delete', relationOid, old: this.tuple() };
        throw this.malformed(`delete without its old key or row (got '${String.fromCharCode(kind)}')`);
      }
      case 0x54 /* T */: {
        const n = this.u32();
        const flags = this.u8();
        const relationOids: number[] = [];
        for (let i = 0; i < n; i++) relationOids.push(this.u32());
        return { tag: 'truncate', relationOids, cascade: (flags & 1) === 1, restartIdentity: (flags & 2) === 2 };
      }
      case 0x4d /* M */: {
        const flags = this.u8();
        const lsn = this.u64();
        const prefix = this.cstring();
        const length = this.u32();
        return { tag: 'message', transactional: (flags & 1) === 1, lsn, prefix, content: this.bytes(length) };
      }
      case 0x4f /* O */:
        return { tag: 'origin' };
      case 0x59 /* Y */:
        return { tag: 'type' };
      default:
        throw this.malformed(`unknown message type '${String.fromCharCode(tag)}' (0x${tag.toString(16)})`);
    }
  }

  private tuple(): PgoutputTuple {
    const n = this.i16();
    const values: PgoutputTuple = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = this.u8();
      if (kind === 0x74 /* t */) {
        const length = this.u32();
        const at = this.take(length);
        values[i] = this.b.toString('utf8', at, at + length);
      } else if (kind === 0x6e /* n */) values[i] = null;
      else if (kind === 0x75 /* u */) values[i] = UNCHANGED_TOAST;
      // 'b' (binary) only comes when asked for with the binary option, which Tandem never sets.
      else throw this.malformed(`unexpected column value kind '${String.fromCharCode(kind)}'`);
    }
    return values;
  }

  private expect(byte: number): void {
    const got = this.u8();
    if (got !== byte) throw this.malformed(`expected '${String.fromCharCode(byte)}', got '${String.fromCharCode(got)}'`);
  }

  /** Claims the next `n` bytes, after checking the message holds them: their offset. */
  private take(n: number): number {
    if (this.p + n > this.b.length) throw this.malformed('message ends early');
    const at = this.p;
    this.p += n;
    return at;
  }

  private u8(): number {
    return this.b[this.take(1)] as number;
  }

  private i16(): number {
    return this.b.readInt16BE(this.take(2));
  }

  private u32(): number {
    return this.b.readUInt32BE(this.take(4));
  }

  private u64(): bigint {
    return this.b.readBigUInt64BE(this.take(8));
  }

  /** A timestamp: microseconds since PostgreSQL's epoch on the wire, since 1970 here. */
  private time(): bigint {
    return this.b.readBigInt64BE(this.take(8)) + PG_EPOCH_OFFSET_US;
  }

  private cstring(): string {
    const end = this.b.indexOf(0, this.p);
    if (end < 0) throw this.malformed('unterminated string');
    const s = this.b.toString('utf8', this.p, end);
    this.p = end + 1;
    return s;
  }

  private bytes(n: number): Buffer {
    const at = this.take(n);
    // A copy: the buffer is a view of the connection's read buffer, which is reused for the next packets.
    return Buffer.from(this.b.subarray(at, at + n));
  }

  private malformed(what: string): Error {
    return new Error(`malformed pgoutput message at byte ${this.p - this.start}: ${what}`);
  }
}
