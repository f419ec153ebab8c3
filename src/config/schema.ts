import * as z from 'zod';
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

/** A shell command line, run with /bin/sh -c (drill.stopNew, drill.startNew). */
const shellCommand = z
  .string({ error: 'expected a shell command line as a string, e.g. "pg_ctl -D /var/lib/postgresql/data stop -m immediate"' })
  .refine((c) => c.trim().length > 0, { message: 'expected a shell command line, e.g. "systemctl stop postgresql"; it is empty' });

/**
 * A command (argv, the event as JSON on stdin and in TANDEM_EVENT) or a webhook (POST of the event as JSON). Header
 * values are secrets: they are redacted wherever Tandem prints or logs.
 */
const hook = z
  .strictObject({
    name: z.string().min(1).optional(),
    command: z.array(z.string()).min(1, 'expected the program and its arguments, e.g. [/usr/local/bin/route, --to]').optional(),
    url: z.string().regex(/^https?:\/\//, 'expected an http:// or https:// URL').optional(),
    headers: z.record(z.string(), z.string()).default({}),
    timeout: duration.default(10_000),
  })
  .refine((h) => (h.command === undefined) !== (h.url === undefined), { message: 'a hook has either command or url, not both and not neither' });

/** What stakeholders can be told (notify.webhooks[].events); docs/notifications.md. */
export const NOTIFY_EVENTS = ['switch.requested', 'switch.pending-approval', 'switch.done', 'switch.backed-out', 'rollback', 'drift.found', 'rollback-readiness.lost', 'drill.finished', 'plan.reviewed'] as const;

/** A notification webhook: told, never asked (distinct from hooks.onSwitch, which can stop a switch). */
const webhook = z.strictObject({
  name: z.string().min(1).optional(),
  url: z.string().regex(/^https?:\/\//, 'expected an http:// or https:// URL'),
  /** `slack`: a Slack-compatible body (`text`); `json`: the event as JSON (with the same `text`). */
  format: z.enum(['slack', 'json']).default('json'),
  /** The events to send; default: all. */
  events: z.array(z.enum(NOTIFY_EVENTS)).min(1, 'expected at least one event, or leave events out for all').optional(),
  headers: z.record(z.string(), z.string()).default({}),
  timeout: duration.default(5_000),
  /** Attempts after the first, with exponential backoff. */
  retries: z.number().int().min(0).max(10).default(4),
});

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
      /**
       * Bound of the in-process queue, in changes: capture waits when apply falls this far behind. Two apply batches
       * keep apply fed; a deeper queue only keeps changes alive long enough to reach V8's old generation (50,000 cost
       * about 70 MiB more peak RSS and more garbage collection on a 1M-row transaction, for no throughput).
       */
      queueChanges: z.number().int().positive().default(10_000),
      kafka: z
        .strictObject({
          brokers: z.array(z.string()).default(['127.0.0.1:9092']),
          connectUrl: z.string().default('http://127.0.0.1:8083'),
          // Kafka transport (issue 15, docs/kafka.md): the rest of this block.
          /** Names the connector (`<prefix>-<side>`), its topic prefix and the ordered change topic. */
          prefix: z
            .string()
            .regex(/^[a-z][a-z0-9_-]{0,40}$/, 'expected lower-case letters, digits, - and _')
            .optional(),
          /** How long the change topic keeps events: Tandem may be stopped at most this long (the durability bound). */
          retention: duration.default(7 * 24 * 3_600_000),
          replicationFactor: z.number().int().positive().default(1),
          /**
           * The properties file Tandem writes the database passwords into (mode 0600), read by Connect's
           * FileConfigProvider: connector configs only name `${file:<path>:<side>.password}`. Default:
           * `<state.dir>/kafka-secrets.properties`, absolute.
           */
          secretsFile: z.string().optional(),
          /** The same file's path as the Connect worker sees it, when Connect runs elsewhere (a mounted secret). */
          connectSecretsFile: z.string().optional(),
          /** Debezium's heartbeat: a quiet source still shows progress at this interval. */
          heartbeatInterval: duration.default(1_000),
          /**
           * `transaction` (default): one partition, every source transaction applied whole and in commit order.
           * `key`: the change topic has `partitions` partitions, a row's changes go to the partition of its primary
           * key, and one apply lane per partition applies them in parallel. Each row's changes stay in order, but a
           * source transaction's rows land in several lanes and show on the shadow at different moments (no
           * cross-row atomicity, H22). Switches need `transaction`.
           */
          ordering: z.enum(['transaction', 'key']).default('transaction'),
          /** Partitions of the change topic with `ordering: key` (one apply lane each); 1 with `transaction`. */
          partitions: z
            .number({ error: 'expected a whole number of partitions, 2–64' })
            .int({ error: 'expected a whole number of partitions, 2–64' })
            .min(2, { error: 'transport.kafka.partitions is at least 2 with ordering: key (one partition is ordering: transaction)' })
            .max(64, { error: 'transport.kafka.partitions is at most 64: each partition is an apply lane holding a connection to the shadow' })
            .optional(),
        })
        .superRefine((k, ctx) => {
          if (k.ordering === 'transaction' && k.partitions !== undefined) {
            ctx.addIssue({ code: 'custom', path: ['partitions'], message: 'transport.kafka.partitions needs ordering: key; with ordering: transaction the change topic has exactly one partition, so each source transaction stays whole and in order' });
          }
        })
        .prefault({}),
    })
    .prefault({}),
  backfill: z
    .strictObject({
      /**
       * The initial copy reads at most this many rows per second from the active side (0: as fast as the sides
       * allow), so a copy of a production database does not starve the shop's own queries.
       */
      rowsPerSecond: z.number().int().min(0).default(0),
      /**
       * Tables copied at the same time, each on a reader connection of its own on the active side (and a writer on
       * the shadow). Every reader of a PostgreSQL source imports the slot's snapshot; a MariaDB source copies in
       * parallel only when every reader's snapshot is proven to sit at the same binlog position, else one by one.
       * Bounded so a copy cannot take a production database's connections: 1–16.
       */
      parallelTables: z
        .number({ error: 'expected a whole number of tables copied at once, 1–16 (each takes one connection on each side)' })
        .int({ error: 'expected a whole number of tables copied at once, 1–16 (each takes one connection on each side)' })
        .min(1, { error: 'backfill.parallelTables is at least 1 (tables copied one by one)' })
        .max(16, { error: 'backfill.parallelTables is at most 16: each table copied at once holds a connection on each side and a snapshot open on the active side' })
        .default(2),
    })
    .prefault({}),
  apply: z
    .strictObject({
      /** Small source transactions are grouped into one shadow transaction up to this many rows… */
      batchRows: z.number().int().positive().default(5_000),
      /** …or this long. */
      batchTime: duration.default(200),
      /**
       * A busy stream's small transactions share shadow commits: after a commit, the next group commits for lack of
       * anything more waiting only this long after it (0: each at once). A transaction arriving later than that
       * after the last commit (a quiet stream) commits at once; markers of a switch's drain always do. 1 ms: under an
       * order-placing load, 5 ms added 3 ms to the median lag, 0 cost a fifth more CPU per transaction, and 1 ms
       * against 2 ms took 1–1.5 ms off the median lag, p99 and CPU within the noise (bench/README.md).
       */
      commitDelay: duration.default(1),
      /**
       * A PostgreSQL shadow commits most groups without waiting for its disk (synchronous_commit off for that
       * transaction, as native logical replication's apply worker commits), and one at least this often waiting
       * for it. The source is told a position is applied only through a commit that waited, so a crash of the
       * shadow's server loses nothing the source has let go of: the stream replays it. 0: every commit waits.
       */
      flushInterval: duration.default(200),
    })
    .prefault({}),
  state: z
    .strictObject({
      /**
       * A local folder for caches only (the control state, drift records and lease live in the databases, the
       * checkpoint in the shadow): nothing there is ever the truth.
       */
      dir: z.string().default('.tandem'),
    })
    .prefault({}),
  discovery: z
    .strictObject({
      /**
       * How often `tandem run` looks for tables created (they join once the shadow has them) or dropped (replication
       * stops naming them) on the active side.
       */
      interval: duration.default(10_000),
    })
    .prefault({}),
  lease: z
    .strictObject({
      /**
       * How long the running service's lease lasts without renewal (renewed every third of it). A standby takes over
       * at most this long after the holder stops renewing; judged by old's clock.
       */
      ttl: duration.default(15_000),
    })
    .prefault({}),
  api: z
    .strictObject({
      listen: z.string().default('127.0.0.1:7420'),
      /**
       * Bearer tokens: in clear (at least 16 characters) or as `sha256:<64 hex digits>`, the SHA-256 of the token, so
       * that tandem.yaml need not hold it (`printf %s "$TOKEN" | sha256sum`).
       */
      tokens: z
        .array(
          z.strictObject({
            name: z.string(),
            token: z
              .string()
              .min(16, 'expected at least 16 characters')
              .refine((t) => !t.startsWith('sha256:') || /^sha256:[0-9a-f]{64}$/.test(t), { message: 'expected sha256: followed by 64 lower-case hex digits (printf %s "$TOKEN" | sha256sum)' }),
            role: z.enum(['read', 'operate', 'admin']),
          }),
        )
        .default([]),
      /** TLS for the API: PEM certificate (chain) and private key files. Clients trust it via NODE_EXTRA_CA_CERTS if self-signed. */
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
      /** Per token (not the local operator): at most `max` switch (dry runs too), approval, finalize and verification requests per `window` (429 past it). */
      rateLimit: z.strictObject({ max: z.number().int().positive().default(30), window: duration.default(60_000) }).prefault({}),
      /** How long a dashboard session (a token traded for a cookie, docs/dashboard.md) lasts. */
      sessionTtl: duration.default(8 * 3600_000),
    })
    .prefault({}),
  cutover: z
    .strictObject({
      /** A switch is refused while the shadow is further behind than this (lag in seconds, see README "Lag"). */
      maxLag: duration.default(5_000),
      /** How long the switch waits for its marker to be applied on the shadow; past it, the switch backs out. */
      drainTimeout: duration.default(30_000),
      /** How long the fence waits for application transactions that wrote before it; past it, they are ended. */
      fenceTimeout: duration.default(10_000),
      /** How long the switch waits for registered routers to acknowledge that they hold writes. */
      holdTimeout: duration.default(5_000),
      /** An emergency rollback tries this long to fence an unreachable new before it makes old active anyway. */
      emergencyFenceTimeout: duration.default(2_000),
      /** 2: a switch asked for by one actor runs only once a second, different actor approves it (docs/approvals.md). */
      approvals: z.union([z.literal(1), z.literal(2)]).default(1),
      /** Approvals an emergency rollback needs; default: as many as `approvals` (set 1 so one responder can act alone). */
      emergencyApprovals: z.union([z.literal(1), z.literal(2)]).optional(),
      /** How long a switch request waits for its approval before it expires. */
      approvalTimeout: duration.default(15 * 60_000),
      /** Refuse a cutover unless the rollback plan was reviewed (tandem plan --approve) and nothing material changed since. */
      requireReviewedPlan: z.boolean().default(false),
      /** Refuse a cutover unless a drill (tandem drill) passed within this long, e.g. 7d. */
      requireDrillWithin: duration.optional(),
    })
    .prefault({}),
  /** The rollback plan's people (tandem plan): who owns the migration, whom to call, who approves a switch. */
  plan: z
    .strictObject({
      owners: z.array(z.string().min(1)).default([]),
      contacts: z.array(z.string().min(1)).default([]),
      approvers: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /** Rollback rehearsals (tandem drill, docs/plan.md). */
  drill: z
    .strictObject({
      /** This pair is a staging copy: tandem drill may switch it back and forth. Anything else needs --i-know-this-is-production. */
      staging: z.boolean().default(false),
      /** Cutover → rollback cycles per drill. */
      cycles: z.number().int().min(1).max(50).default(3),
      /**
       * The table the drill's load writes to; the drill creates it on both sides when missing and it must be replicated.
       * Not `tandem_…`: that prefix is Tandem's own on MySQL/MariaDB and never replicated.
       */
      table: identifier.default('drill_orders'),
      /** Writer clients of the drill's load. */
      writers: z.number().int().min(1).max(32).default(3),
      /**
       * The URLs the drill's load writes with, as the application would (default: the sides' own URLs). On MariaDB give
       * an account without SUPER: read_only, the fence, does not stop SUPER accounts.
       */
      load: z.strictObject({ old: databaseUrl.optional(), new: databaseUrl.optional() }).prefault({}),
      /**
       * Shell commands that stop and start new's database server. Given both, a drill ends by rehearsing an emergency
       * rollback: cutover, stopNew, the emergency rollback, startNew (docs/plan.md).
       */
      stopNew: shellCommand.optional(),
      startNew: shellCommand.optional(),
    })
    .superRefine((d, ctx) => {
      // The emergency rehearsal stops new and must start it again: one without the other is a mistake, not a choice.
      const missing = d.stopNew === undefined ? (d.startNew === undefined ? undefined : 'stopNew') : d.startNew === undefined ? 'startNew' : undefined;
      if (missing) ctx.addIssue({ code: 'custom', path: [missing], message: `drill.stopNew and drill.startNew go together (the emergency rehearsal stops new, then starts it again); give both or neither` });
    })
    .prefault({}),
  fence: z
    .strictObject({
      /**
       * Fence the shadow side for as long as it is the shadow (docs/fencing.md): a misrouted application cannot split
       * the data. Turning it off leaves the shadow writable until a switch fences it.
       */
      shadow: z.boolean().default(true),
      /** How often the service checks the shadow's fence and puts it back (a MariaDB restart clears read_only). */
      interval: duration.default(5_000),
    })
    .prefault({}),
  notify: z
    .strictObject({
      webhooks: z.array(webhook).default([]),
      /** How often drift and rollback readiness are looked at for drift.found and rollback-readiness.lost. */
      interval: duration.default(15_000),
    })
    .prefault({}),
  hooks: z
    .strictObject({
      /** Run before a switch unfences the side becoming active (a failure backs the switch out) and after it. */
      onSwitch: z.array(hook).default([]),
      /** Run on every phase change. */
      onPhase: z.array(hook).default([]),
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
