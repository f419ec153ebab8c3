import pRetry from 'p-retry';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { sidesOf, type Direction } from '../model/direction.js';
import { openCaptureSource, openShadowWriter } from '../engines/factory.js';
import { openDatabase } from '../engines/open.js';
import { BackfillAborted, runBackfill } from '../backfill/backfill.js';
import { IsolateTransactions, streamChanges } from './pipeline.js';
import type { ReplicationStats } from './stats.js';
import type { Change } from '../model/change.js';

export interface ServiceOptions {
  direction: Direction;
  signal: AbortSignal;
  stats: ReplicationStats;
  log: Logger;
  /** Copy the tables and stop (tandem backfill), instead of streaming afterwards. */
  backfillOnly?: boolean;
  /** Forget the checkpoint and empty the shadow tables first (tandem backfill --yes). */
  reset?: boolean;
  onProgress?: () => void;
  /** See StreamOptions.onApplied. */
  onApplied?: (changes: Change[]) => void;
}

/** The tables a migration replicates: configured, or every table of the active side, minus exclusions. */
export async function replicatedTables(config: TandemConfig, direction: Direction): Promise<string[]> {
  const { active } = sidesOf(direction);
  if (config.tables) return config.tables.filter((t) => !config.exclude.includes(t));
  const db = await openDatabase(active, config[active].url);
  try {
    return (await db.listTables()).filter((t) => !config.exclude.includes(t));
  } finally {
    await db.close();
  }
}

/**
 * Refuses tables without a primary key (or replica-identity index) on the active side before anything is created
 * there: a change to such a table cannot name the row it changes, and publishing it would make the application's
 * UPDATEs and DELETEs on it fail.
 */
export async function assertPrimaryKeys(config: TandemConfig, direction: Direction, tables: string[]): Promise<void> {
  const { active } = sidesOf(direction);
  const db = await openDatabase(active, config[active].url);
  try {
    const schemas = await db.describeTables(tables);
    const keyless = tables.filter((t) => schemas.has(t) && schemas.get(t)?.primaryKey.length === 0);
    if (keyless.length === 0) return;
    throw new TandemError(
      'TANDEM_SCHEMA_UNSUPPORTED',
      `table(s) ${keyless.join(', ')} on ${active} (the active side) have no primary key, so their changes cannot be applied to one row; nothing was started`,
      { fix: `add a primary key (ALTER TABLE ${keyless[0]} ADD PRIMARY KEY (…)), or leave the table(s) out in tandem.yaml: exclude: [${keyless.join(', ')}]` },
    );
  } finally {
    await db.close();
  }
}

/**
 * `tandem run`: backfill when needed, then stream, reconnecting with backoff after transient failures (a restarted
 * database, a dropped connection). Every restart resumes from the checkpoint in the shadow, so nothing is lost or
 * applied twice. Fatal errors (slot lost, DDL, unsupported value) stop the service with their fix.
 */
export async function runService(config: TandemConfig, opts: ServiceOptions): Promise<void> {
  const { active, shadow: shadowSide } = sidesOf(opts.direction);
  const tables = await replicatedTables(config, opts.direction);
  await assertPrimaryKeys(config, opts.direction, tables);
  const source = openCaptureSource(config[active].url, config.migration, tables, { shadowUrl: config[shadowSide].url, zeroDates: config.values.zeroDates });
  let resetDone = !opts.reset;
  let isolateThrough: string | undefined;

  await pRetry(
    async () => {
      const shadow = await openShadowWriter(config[shadowSide].url, config.migration, opts.direction, config.apply.batchRows);
      try {
        await shadow.prepare(tables);
        if (!resetDone) {
          await shadow.reset(tables);
          if ((await source.slotState()).exists) await source.dropSlot();
          resetDone = true;
        }
        try {
          await runBackfill({ source, shadow, tables, chunkRows: config.apply.batchRows, signal: opts.signal, stats: opts.stats, log: opts.log, onProgress: opts.onProgress });
        } catch (err) {
          if (err instanceof BackfillAborted) return;
          throw err;
        }
        if (opts.backfillOnly || opts.signal.aborted) return;
        opts.stats.phase = 'shadowing';
        await streamChanges({
          source,
          shadow,
          tables,
          batchRows: config.apply.batchRows,
          batchTimeMs: config.apply.batchTime,
          queueChanges: config.transport.queueChanges,
          signal: opts.signal,
          stats: opts.stats,
          log: opts.log,
          isolateThrough,
          onApplied: opts.onApplied,
        });
      } finally {
        await shadow.close();
      }
    },
    {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 250,
      maxTimeout: 15_000,
      randomize: true,
      signal: opts.signal,
      shouldRetry: ({ error }) => !opts.signal.aborted && isRetriable(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (error instanceof IsolateTransactions) {
          isolateThrough = error.through;
          opts.log.info({ through: error.through, err: errorMessage(error) }, 'a transaction failed: applying the transactions before it on their own');
          return;
        }
        opts.stats.lastError = errorMessage(error);
        if (isRetriable(error)) opts.log.warn({ attempt: attemptNumber, err: errorMessage(error) }, 'replication interrupted; reconnecting from the checkpoint');
      },
    },
  ).catch((err: unknown) => {
    // Stopping (SIGTERM) ends retries by design; only a fatal error is worth reporting then.
    if (opts.signal.aborted && !(err instanceof TandemError && !err.retriable)) return;
    throw err;
  });
}

function isRetriable(err: unknown): boolean {
  if (err instanceof TandemError) return err.retriable;
  // Driver errors that escaped mapping: a lost connection is worth another try, anything else is not.
  // node-postgres reports a connection that broke while idle (a server restart) only on its next query.
  return /ECONNREFUSED|ECONNRESET|Connection terminated|connection lost|the database system is|terminating connection|closed state|Client has encountered a connection error/i.test(errorMessage(err));
}
