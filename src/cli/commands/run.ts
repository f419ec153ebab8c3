import type { Command } from 'commander';
import { Option } from 'commander';
import { childLogger } from '../../log.js';
import { replicatedTables, runService } from '../../replicate/service.js';
import { ContinuousVerifier } from '../../verify/continuous.js';
import { emptyStats } from '../../replicate/stats.js';
import { sidesOf, type Direction } from '../../model/direction.js';
import { writeStatus, type PublishedStatus } from '../../control/status-file.js';
import { loadCliConfig } from '../context.js';
import { renderBackfillLine } from '../progress.js';
import { createMetrics } from '../../server/metrics.js';
import { startMetricsServer } from '../../server/metrics-server.js';
import { startSourceSampler } from '../../replicate/source-sampler.js';
import { TandemError, errorMessage } from '../../errors.js';
import { VERSION } from '../../version.js';

export const directionOption = () =>
  new Option('--direction <direction>', 'forward (old → new) or reverse (new → old, after cutover)').choices(['forward', 'reverse']).default('forward');

/** Shared by `run` and `backfill`: the service with status publishing and signal handling. */
export async function runWithStatus(cmd: Command, direction: Direction, extra: { backfillOnly?: boolean; reset?: boolean }): Promise<void> {
  const { config } = loadCliConfig(cmd);
  if (config.transport.kind !== 'embedded') {
    throw new TandemError('TANDEM_USAGE', `transport.kind ${config.transport.kind} is not available in this version of Tandem`, {
      fix: 'set transport.kind: embedded (the default) in tandem.yaml',
    });
  }
  const log = childLogger('replicate', { migration: config.migration, direction });
  const stats = emptyStats();
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting without waiting; the next start resumes from the checkpoint');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping: finishing the current batch and committing its checkpoint');
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const startedAt = new Date().toISOString();
  const publish = (running: boolean) => {
    const status: PublishedStatus = { ...stats, pid: process.pid, migration: config.migration, direction, startedAt, updatedAt: new Date().toISOString(), running };
    try {
      writeStatus(config.state.dir, status);
    } catch (err) {
      log.warn({ err: String(err) }, 'cannot write the status file');
    }
  };
  const timer = setInterval(() => publish(true), 1000);
  const metricsServer = await startMetricsServer(config.api.listen, createMetrics(stats, config.migration, direction, VERSION)).catch((err: unknown) => {
    log.warn({ listen: config.api.listen, err: errorMessage(err) }, 'metrics endpoint not started; replication continues without it (set api.listen to a free address)');
    return undefined;
  });
  const sampler = startSourceSampler(config[sidesOf(direction).active].url, config.migration, stats, log);
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const onProgress = () => {
    if (!tty || !stats.backfill || Date.now() - lastLine < 250) return;
    lastLine = Date.now();
    process.stderr.write(`\r${renderBackfillLine(stats.backfill)}`);
  };
  log.info({ active: sidesOf(direction).active, tables: config.tables ?? 'all' }, 'starting');
  let verification: ContinuousVerifier | undefined;
  try {
    if (!extra.backfillOnly) {
      verification = new ContinuousVerifier({
        config,
        direction,
        tables: await replicatedTables(config, direction),
        stats,
        log: childLogger('verify', { migration: config.migration, direction }),
        signal: controller.signal,
      });
      verification.start();
    }
    await runService(config, { direction, signal: controller.signal, stats, log, onProgress, onApplied: verification ? (c) => verification?.onApplied(c) : undefined, ...extra });
  } catch (err) {
    stats.lastError = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    // Replication has stopped (or failed): verification stops with it.
    if (!controller.signal.aborted) controller.abort();
    await verification?.stop();
    if (tty && stats.backfill) process.stderr.write('\n');
    clearInterval(timer);
    sampler.stop();
    metricsServer?.close();
    publish(false);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('the replication service: backfill if needed, then stream changes from the active side to the shadow')
    .addOption(directionOption())
    .action(async (opts: { direction: Direction }, cmd: Command) => {
      await runWithStatus(cmd, opts.direction, {});
    });
}
