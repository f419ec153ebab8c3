/**
 * Recorded binlog events (test/fixtures/binlog/*.json): what Tandem's binlog listener handed the framer on a real
 * MariaDB, written by test/tools/record-binlog.ts and replayed by test/unit/binlog-framer.test.ts.
 *
 * JSON has no bytes and no 64-bit integers, so a Buffer is written as `{"$hex": "..."}` and a bigint as
 * `{"$bigint": "..."}`; nothing else the listener produces needs an encoding (zongji gives numbers, text, null).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { BinlogEvent } from '../../src/engines/mysql/binlog-framer.js';

export type FixtureStep =
  | { event: BinlogEvent }
  /** The answer to a DDL follow-up: the tables' columns as the listener looked them up. */
  | { columns: Record<string, string[]> };

export interface BinlogFixture {
  scenario: string;
  /** SELECT VERSION() of the server recorded from. */
  server: string;
  database: string;
  /** The migration's tables, what the framer replicates; the listener also decoded `decoded` (tables outside it). */
  tables: string[];
  decoded: string[];
  /** Where the listener started (the server's position before the statements) and the position after them. */
  start: string;
  end: string;
  /** What ran, by session (`a: ...`, `b: ...`), in order. */
  statements: string[];
  steps: FixtureStep[];
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // Buffer.toJSON has already run on `value`: the holder still has the Buffer itself.
  const raw = this[key];
  if (Buffer.isBuffer(raw)) return { $hex: raw.toString('hex') };
  if (typeof raw === 'bigint') return { $bigint: raw.toString() };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const v = value as Record<string, unknown>;
    if (keys.length === 1 && typeof v.$hex === 'string') return Buffer.from(v.$hex, 'hex');
    if (keys.length === 1 && typeof v.$bigint === 'string') return BigInt(v.$bigint);
  }
  return value;
}

/** One step a line, so a re-recording shows up as a readable diff. */
export function writeFixture(file: string, fixture: BinlogFixture): void {
  const { steps, ...head } = fixture;
  const headText = JSON.stringify(head, replacer, 2).replace(/\n}$/, '');
  const lines = steps.map((s) => `    ${JSON.stringify(s, replacer)}`);
  writeFileSync(file, `${headText},\n  "steps": [\n${lines.join(',\n')}\n  ]\n}\n`);
}

export function readFixture(file: string): BinlogFixture {
  return JSON.parse(readFileSync(file, 'utf8'), reviver) as BinlogFixture;
}
