import pRetry from 'p-retry';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { sidesOf, type Direction } from '../model/direction.js';
import type { Change } from '../model/change.js';
import { engineForUrl } from '../engines/registry.js';
import { uncarriedColumns, uncarriedColumnsProblem } from '../model/column-names.js';
import { BackfillAborted, copyAddedTables, runBackfill } from '../backfill/backfill.js';
import type { CaptureSource, Checkpoint, ShadowWriter } from '../engines/engine.js';
import { emptyTableSet, planTables, type PendingTable, type TableSet } from './tables.js';
import { LagTracker } from './lag.js';
import { EmbeddedFeed } from '../transport/embedded.js';
import { streamChanges } from './pipeline.js';
import { streamLanes } from './lanes.js';
import { isLaneFeed } from '../transport/change-feed.js';
import type { ReplicationStats } from './stats.js';

export interface RunnerOptions {
  direction: Direction;
  /** The lease epoch every shadow commit proves (see ShadowWriterOptions.epoch). */
  epoch: number;
  signal: AbortSignal;
  stats: ReplicationStats;
  log: Logger;
  /** The replicated tables (replicatedTables), resolved once by the caller. */
  tables: string[];
  /** Copy the tables and stop (tandem backfill), instead of streaming afterwards. */
  backfillOnly?: boolean;
  /** Forget the checkpoint and empty the shadow tables first (tandem backfill --yes). */
  reset?: boolean;
  /** Only stream, never copy: do nothing when the shadow's backfill has not completed (verify's catch-up). */
  streamOnly?: boolean;
  onProgress?: () => void;
  /** See StreamOptions.onApplied. */
  onApplied?: (changes: Change[]) => void;
  /** See StreamOptions.onCheckpoint. */
  onCheckpoint?: (sourcePosition: string) => void;
  /** See StreamOptions.onMarker. */
  onMarker?: (id: string, sourcePosition: string) => void;
  /** Told when replication moves between its stages (backfill, streaming). */
  onStage?: (stage: ReplicationStats['stage']) => void;
  /** Told of each interruption that replication recovers from by itself (it reconnects from the checkpoint). */
  onRetry?: (err: TandemError, attempt: number) => void;
  /** Told of the table set whenever it is (re)read: replicated, joining, pending, not replicated. */
  onTables?: (set: TableSet) => void;
  /** Told before a new initial copy starts (no checkpoint on the shadow). */
  onFreshCopy?: () => Promise<void>;
}

/**
 * Refuses tables without a primary key (or replica-identity index) on the active side before anything is created
 * there: a change to such a table cannot name the row it changes, and publishing it would make the application's
 * UPDATEs and DELETEs on it fail. Refuses as well a table with a column no row can carry (uncarriedColumns).
 */
export async function assertReplicableTables(config: TandemConfig, direction: Direction, tables: string[]): Promise<void> {
  const { active } = sidesOf(direction);
  const engine = engineForUrl(config[active].url);
  const db = await engine.openDatabase(active, config[active].url);
  try {
    const schemas = await db.describeTables(tables);
    const keyless = tables.filter((t) => schemas.has(t) && schemas.get(t)?.primaryKey.length === 0);
    if (keyless.length > 0) {
      throw new TandemError(
        'TANDEM_SCHEMA_UNSUPPORTED',
        `table(s) ${keyless.join(', ')} on ${active} (the active side) have no primary key, so their changes cannot be applied to one row; nothing was started`,
        { fix: `add a primary key (ALTER TABLE ${keyless[0]} ADD PRIMARY KEY (…)), or leave the table(s) out in tandem.yaml: exclude: [${keyless.join(', ')}]` },
      );
    }
    for (const schema of schemas.values()) {
      const uncarried = uncarriedColumns(schema.columns);
      if (uncarried.length === 0) continue;
      const { reason, fix } = uncarriedColumnsProblem(schema.name, uncarried, (name) => engine.dialect.quoteIdent(name));
      throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `${reason} (on ${active}, the active side); nothing was started`, { fix });
    }
  } finally {
    await db.close();
  }
}

/**
 * Replication in one direction: backfill when the shadow has no checkpoint, then stream, reconnecting with backoff
 * after transient failures (a restarted database, a dropped connection). Every restart resumes from the checkpoint
 * in the shadow, so nothing is lost or applied twice. Fatal errors (slot lost, DDL, unsupported value, lease lost)
 * end it with their fix. Resolves when stopped through `signal`.
 */
export async function runReplication(config: TandemConfig, opts: RunnerOptions): Promise<void> {
  const { active, shadow: shadowSide } = sidesOf(opts.direction);
  const activeEngine = engineForUrl(config[active].url);
  const shadowUrl = config[shadowSide].url;
  const shadowEngine = engineForUrl(shadowUrl);
  const source = activeEngine.captureSource({ url: config[active].url, migration: config.migration, side: active, tables: opts.tables, shadowEngine: shadowEngine.kind, zeroDates: config.values.zeroDates, onLossyValue: (table, column) => {
    opts.stats.lossyValues = { count: opts.stats.lossyValues.count + 1, last: `${table}.${column}` };
  } });
  let resetDone = !opts.reset;
  opts.stats.lag = new LagTracker(activeEngine.comparePositions);
  /** Tables that could not join because the publication could not take them in (PostgreSQL: not their owner). */
  const blocked = new Map<string, PendingTable>();

  // A parallel backfill's workers each write through a session of their own, under the same lease epoch.
  // An apply lane (Kafka ordering: key) writes its own checkpoint row through a session of its own too.
  const openShadow = (lane?: number) => shadowEngine.openShadowWriter({ url: shadowUrl, migration: config.migration, direction: opts.direction, maxRows: config.apply.batchRows, epoch: opts.epoch, lane });
  if (config.transport.kind === 'kafka' && config.transport.kafka.ordering === 'key') {
    // Refused before anything is copied: lanes apply rows out of step, which such an index would refuse.
    const db = await shadowEngine.openDatabase(shadowSide, shadowUrl);
    try {
      // Kafka transport (issue 15): its modules (and kafkajs) load only when it is configured, not at every CLI start.
      const { laneConflictError, laneConflictingKeys } = await import('../transport/kafka/keyed.js');
      const found = laneConflictingKeys(await db.describeTables(opts.tables));
      if (found.length) throw laneConflictError(found, shadowSide);
    } finally {
      await db.close();
    }
  }
  await pRetry(
    async () => {
      const shadow = await openShadow();
      try {
        // Tandem's own tables first (checkpoint, progress, lease), brought up to date with this version.
        await shadow.prepare([]);
        if (!resetDone) {
          await shadow.prepare(opts.tables);
          await shadow.reset(opts.tables);
          if ((await source.slotState()).exists) await source.dropSlot();
          resetDone = true;
        }
        const before = await shadow.readCheckpoint();
        if (opts.streamOnly && before?.stage !== 'streaming') return;
        if (before?.stage !== 'streaming') {
          // The initial copy covers every table of the migration, and each must be replicable: refused before anything is created.
          if (!before) {
            await assertReplicableTables(config, opts.direction, opts.tables);
            // Whatever was verified before describes rows this copy replaces.
            await opts.onFreshCopy?.();
          }
          await shadow.prepare(opts.tables);
          opts.onTables?.({ ...emptyTableSet(), replicated: opts.tables });
          opts.onStage?.('backfill');
          try {
            await runBackfill({ source, shadow, openShadow, tables: opts.tables, chunkRows: config.apply.batchRows, rowsPerSecond: config.backfill.rowsPerSecond, parallelTables: config.backfill.parallelTables, signal: opts.signal, stats: opts.stats, log: opts.log, onProgress: opts.onProgress });
          } catch (err) {
            if (err instanceof BackfillAborted) return;
            throw err;
          }
        }
        if (opts.backfillOnly || opts.signal.aborted) return;
        opts.stats.stage = 'streaming';
        opts.onStage?.('streaming');
        // Streaming, until stopped; a change of the table set (a table joins) restarts it from the checkpoint.
        while (!opts.signal.aborted) {
          const tables = await joinTables(config, opts, source, shadow, blocked);
          const changed = new AbortController();
          const stop = () => changed.abort();
          opts.signal.addEventListener('abort', stop, { once: true });
          if (opts.signal.aborted) stop();
          const watcher = watchTables(config, opts, source, tables, blocked, changed);
          let stopped: TandemError | undefined;
          try {
            const feed = config.transport.kind === 'kafka' ? await (await import('../transport/kafka/index.js')).openKafkaFeed(config, opts.direction, tables, await shadow.readCheckpoint(), activeEngine.comparePositions, opts.log, opts.stats) : new EmbeddedFeed(source, config.transport.queueChanges);
            const common = {
              comparePositions: activeEngine.comparePositions,
              tables: new Set(tables),
              batchRows: config.apply.batchRows,
              batchTimeMs: config.apply.batchTime,
              commitDelayMs: config.apply.commitDelay,
              flushIntervalMs: config.apply.flushInterval,
              signal: changed.signal,
              stats: opts.stats,
              log: opts.log,
              onApplied: opts.onApplied,
              onCheckpoint: opts.onCheckpoint,
            };
            if (isLaneFeed(feed)) {
              await streamLanes({ ...common, feed, shadow, openLaneShadow: openShadow });
            } else {
              await streamChanges({ ...common, feed, shadow, onMarker: opts.onMarker });
            }
          } finally {
            opts.signal.removeEventListener('abort', stop);
            stopped = await watcher.stop();
          }
          // A table of the migration disappeared: stop here, at the transaction boundary the stream ended on.
          if (stopped) throw stopped;
        }
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
      // Only `retriable` decides: engines map driver errors at their edge (EngineModule.mapError).
      shouldRetry: ({ error }) => !opts.signal.aborted && error instanceof TandemError && error.retriable,
      onFailedAttempt: ({ error, attemptNumber }) => {
        // Stopping ends the attempt on purpose: that is not an error to show.
        if (opts.signal.aborted) return;
        opts.stats.lastError = errorMessage(error);
        if (error instanceof TandemError && error.retriable) {
          opts.log.warn({ attempt: attemptNumber, code: error.code, err: errorMessage(error) }, 'replication interrupted; reconnecting from the checkpoint');
          opts.onRetry?.(error, attemptNumber);
        }
      },
    },
  ).catch((err: unknown) => {
    // Stopping (SIGTERM) ends retries by design; only a fatal error is worth reporting then.
    if (opts.signal.aborted && !(err instanceof TandemError && !err.retriable)) return;
    throw err instanceof TandemError ? err : new TandemError('TANDEM_INTERNAL', errorMessage(err), { cause: err });
  });
}

/**
 * Brings the table set up to date before streaming starts: tables that join are taken into the publication, copied
 * from a snapshot taken now, and streamed from the checkpoint with the others (copyAddedTables says why that is
 * exact). Returns the tables to stream. A table of the migration gone from the active side stops replication.
 */
async function joinTables(config: TandemConfig, opts: RunnerOptions, source: CaptureSource, shadow: ShadowWriter, blocked: Map<string, PendingTable>): Promise<string[]> {
  const progress = await shadow.readBackfill();
  const set = await planTables(config, opts.direction, progress.map((p) => p.table));
  if (set.dropped.length) throw droppedTables(set.dropped, await shadow.readCheckpoint());
  let joining = set.joining;
  try {
    await source.prepare([...set.replicated, ...joining]);
    for (const t of joining) blocked.delete(t);
  } catch (err) {
    if (!(err instanceof TandemError) || err.code !== 'TANDEM_PRIVILEGE_MISSING' || joining.length === 0) throw err;
    // Taking a table into the publication needs its owner: report it, with the statement an administrator runs.
    for (const t of joining) blocked.set(t, { table: t, reason: `Tandem may not add ${t} to its publication: ${err.message}`, fix: `${source.joinStatement?.(t) ?? `grant Tandem the right to capture ${t}`} (as ${t}'s owner or a superuser); Tandem copies the table and streams it as soon as it is published` });
    joining = [];
    await source.prepare(set.replicated);
  }
  const tables = [...set.replicated, ...joining];
  const pending = [...set.pending, ...blocked.values()];
  opts.onTables?.({ ...set, joining, pending });
  for (const p of pending) opts.log.warn({ table: p.table, reason: p.reason, fix: p.fix }, 'table not replicated yet');
  await shadow.prepare(tables);
  // Tables whose copy has not finished: new ones, and any a crash interrupted.
  const unfinished = progress.filter((p) => !p.done && tables.includes(p.table)).map((p) => p.table);
  const toCopy = [...new Set([...unfinished, ...joining])];
  if (toCopy.length) {
    const stats = opts.stats;
    const openShadow = () => engineForUrl(config[sidesOf(opts.direction).shadow].url).openShadowWriter({ url: config[sidesOf(opts.direction).shadow].url, migration: config.migration, direction: opts.direction, maxRows: config.apply.batchRows, epoch: opts.epoch });
    await copyAddedTables({ source, shadow, openShadow, tables: toCopy, chunkRows: config.apply.batchRows, rowsPerSecond: config.backfill.rowsPerSecond, parallelTables: config.backfill.parallelTables, signal: opts.signal, stats, log: opts.log, onProgress: opts.onProgress });
    opts.onTables?.({ ...set, replicated: tables, joining: [], pending });
  }
  return tables;
}

/**
 * Looks for tables that join or disappear while streaming (every discovery.interval). Ends the stream (aborts
 * `changed`) when the set must change; `stop()` returns the error to raise (a table dropped), if any. Tables that
 * could not be published are tried again in place: once an administrator publishes them, they join.
 */
function watchTables(config: TandemConfig, opts: RunnerOptions, source: CaptureSource, tables: string[], blocked: Map<string, PendingTable>, changed: AbortController): { stop(): Promise<TandemError | undefined> } {
  let failure: TandemError | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      const set = await planTables(config, opts.direction, tables);
      if (set.dropped.length) {
        failure = droppedTables(set.dropped, undefined);
        changed.abort();
        return;
      }
      const unblocked: string[] = [];
      for (const t of set.joining) {
        if (!blocked.has(t)) {
          unblocked.push(t);
          continue;
        }
        const ok = await source.prepare([...tables, t]).then(
          () => true,
          () => false,
        );
        if (ok) unblocked.push(t);
      }
      if (unblocked.length) {
        opts.log.info({ tables: unblocked }, 'tables joining the migration: stopping the stream at a transaction boundary to copy them');
        changed.abort();
        return;
      }
      opts.onTables?.({ ...set, replicated: tables, joining: [], pending: [...set.pending, ...set.joining.map((t) => blocked.get(t)).filter((p): p is PendingTable => !!p)] });
    } catch (err) {
      opts.log.debug({ err: errorMessage(err) }, 'cannot look for new tables now; trying again later');
    }
  };
  const timer = setInterval(() => {
    running = running.then(tick);
  }, config.discovery.interval);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      return failure;
    },
  };
}

function droppedTables(tables: string[], cp: Checkpoint | undefined): TandemError {
  const where = cp ? `; replication stopped at checkpoint ${cp.sourcePosition}` : '; replication stopped';
  const subject = tables.length > 1 ? `tables ${tables.join(', ')} were` : `table ${tables[0]} was`;
  return new TandemError('TANDEM_CAPTURE_DDL', `${subject} dropped or renamed on the active side: the migration names ${tables.length > 1 ? 'them' : 'it'} but ${tables.length > 1 ? 'they no longer exist' : 'it no longer exists'} there${where}`, {
    fix: `leave ${tables.length > 1 ? 'them' : 'it'} out of the migration (tandem.yaml exclude: [${tables.join(', ')}]) and start again: the other tables continue from the checkpoint, and the shadow keeps the rows it has; or recreate ${tables.length > 1 ? 'them' : 'it'} on the active side`,
  });
}
