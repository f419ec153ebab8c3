import { z } from 'zod';
import { parseDuration } from './duration.js';

/** A duration written as `500ms`, `5s`, `2m`, `1h`; held as milliseconds. */
const duration = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 5s, 2m or 1h` });
      return z.NEVER;
    }
    return ms;
  });

const databaseUrl = z
  .string()
  .refine((url) => /^(postgres|postgresql|mysql|mariadb):\/\//.test(url), {
    message: 'expected a URL such as postgres://user@host:5432/db or mysql://user@host:3306/db',
  });

const side = z.strictObject({
  /** Connection used for capture, backfill, apply and verification. */
  url: databaseUrl,
});

const identifier = z.string().min(1, 'expected a table name');

export const configSchema = z.strictObject({
  migration: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,39}$/, 'expected lower-case letters, digits and _ (it names the slot and the publication), at most 40 characters'),
  old: side,
  new: side,
  /** Tables to keep equal; default: every table of the old side's database (schema). */
  tables: z.array(identifier).optional(),
  /** Tables deliberately left out. */
  exclude: z.array(identifier).default([]),
  transport: z
    .strictObject({
      kind: z.enum(['embedded', 'kafka']).default('embedded'),
      /** Bound of the in-process queue, in changes: capture waits when apply falls this far behind. */
      queueChanges: z.number().int().positive().default(50_000),
      kafka: z
        .strictObject({
          brokers: z.array(z.string()).default(['127.0.0.1:9092']),
          connectUrl: z.string().default('http://127.0.0.1:8083'),
        })
        .prefault({}),
    })
    .prefault({}),
  apply: z
    .strictObject({
      /** Small source transactions are grouped into one shadow transaction up to this many rows… */
      batchRows: z.number().int().positive().default(5_000),
      /** …or this long. */
      batchTime: duration.default(200),
    })
    .prefault({}),
  state: z
    .strictObject({
      /** Where the service publishes its status and keeps its audit log (the checkpoint itself lives in the shadow database). */
      dir: z.string().default('.tandem'),
    })
    .prefault({}),
  api: z
    .strictObject({
      listen: z.string().default('127.0.0.1:7420'),
      tokens: z
        .array(z.strictObject({ name: z.string(), token: z.string().min(16, 'expected at least 16 characters'), role: z.enum(['read', 'operate', 'admin']) }))
        .default([]),
    })
    .prefault({}),
  cutover: z
    .strictObject({
      maxLag: duration.default(5_000),
      drainTimeout: duration.default(30_000),
      fenceTimeout: duration.default(10_000),
    })
    .prefault({}),
  verify: z
    .strictObject({
      /** Background verification reads at most this many rows per second from each side. */
      rowsPerSecond: z.number().int().positive().default(50_000),
      /** First chunk size of a full pass; it adapts so each chunk query stays short. */
      chunkRows: z.number().int().positive().default(10_000),
      /** Pause between background full passes (tandem run). */
      interval: duration.default(600_000),
      /**
       * How long a row seen differing may wait for the shadow's checkpoint to pass the active side's position
       * before it is reported as unconfirmed (never as drift).
       */
      settleTimeout: duration.default(60_000),
    })
    .prefault({}),
  values: z
    .strictObject({
      /**
       * MySQL/MariaDB zero dates (`0000-00-00`, `2022-11-00`, a zero TIMESTAMP) have no PostgreSQL equivalent.
       * `refuse` (default): `tandem check` fails naming table, column and row count, and replication stops with
       * TANDEM_VALUE_UNSUPPORTED if one arrives anyway. `null`: they are written as NULL on a PostgreSQL shadow, in
       * backfill and stream alike (the shadow column must be nullable). YAML's bare `null` means the same as
       * `'null'`. A MySQL/MariaDB shadow holds zero dates as they are, whatever this says.
       */
      zeroDates: z
        .union([z.enum(['refuse', 'null']), z.null()])
        .default('refuse')
        .transform((v) => v ?? 'null'),
    })
    .prefault({}),
  check: z
    .strictObject({
      /** Binlog retention below this fails `tandem check`: a longer pause would lose the position. */
      minBinlogRetentionHours: z.number().nonnegative().default(24),
    })
    .prefault({}),
});

export type TandemConfig = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
