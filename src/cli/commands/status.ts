import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { printJson, printOut } from '../output.js';
import { childLogger } from '../../log.js';
import { StateStore } from '../../control/state-store.js';
import { readStatus, withLastKnown, type StatusReport } from '../../control/status.js';
import { ExitCode } from '../../errors.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function renderService(s: StatusReport): string[] {
  const svc = s.service;
  const stop = s.lastStop;
  const stopLines = stop
    ? stop.clean
      ? [`              last stopped cleanly at ${stop.at} (pid ${stop.pid} on ${stop.host})`]
      : [
          `              STOPPED BY AN ERROR at ${stop.at} (pid ${stop.pid} on ${stop.host}): ${stop.code ?? ''} ${stop.message ?? ''}`,
          ...(stop.place && Object.keys(stop.place).length ? [`              where: ${JSON.stringify(stop.place)}`] : []),
          ...(stop.fix ? [`              fix: ${stop.fix}`] : []),
        ]
    : [];
  if (!svc) return ['not running (no instance has held the lease yet)', ...stopLines];
  const renewed = `lease renewed ${seconds(svc.renewedAgoMs)} ago`;
  switch (svc.state) {
    case 'running':
      if (svc.role !== 'service') return [`not running; ${svc.description} holds the lease (${renewed})`];
      return [`running (pid ${svc.pid} on ${svc.host}, since ${svc.since}; ${renewed}, expires in ${seconds(Math.max(0, svc.expiresInMs))}${svc.api ? `; API ${svc.api}` : ''})`];
    case 'not-responding':
      return [`NOT RESPONDING: pid ${svc.pid} on ${svc.host} holds the lease but has not renewed it for ${seconds(svc.renewedAgoMs)} (paused, hung or cut off); its lease expires in ${seconds(Math.max(0, svc.expiresInMs))}, then a standby may take over`];
    case 'gone':
      return [`not running: pid ${svc.pid} on ${svc.host} is gone (killed or crashed) since about ${svc.renewedAgoMs ? new Date(Date.now() - svc.renewedAgoMs).toISOString() : 'its last renewal'}; start tandem run (it resumes from the checkpoint)`, ...stopLines];
    case 'stopped':
      return [`not running since ${new Date(Date.now() - svc.renewedAgoMs).toISOString()} (last: pid ${svc.pid} on ${svc.host})`, ...stopLines];
  }
}

function renderStatus(s: StatusReport): string {
  const lines = [
    `migration     ${s.migration}`,
    `phase         ${s.phase}`,
    `direction     ${s.direction} (active side: ${s.activeSide})`,
    ...(s.switch ? [`switch        ${s.switch.kind} ${s.switch.requestId} IN PROGRESS at step ${s.switch.step} (since ${s.switch.startedAt})`] : []),
    ...(s.resyncRequired ? ['resync        REQUIRED: new must be copied again after the emergency rollback (stop tandem run, tandem backfill --yes, start it)'] : []),
    ...(s.rollback ? [`rollback      ${s.rollback.ready ? 'READY' : 'NOT READY'}${s.rollback.reasons.length ? `: ${s.rollback.reasons.join('; ')}` : ''}`] : []),
    ...renderService(s).map((l, i) => (i === 0 ? `service       ${l}` : l)),
    `lag           ${s.lag.seconds === null ? `? s (${s.running ? 'not measured yet: backfill, or the active side\'s clock not read yet' : 'only the running service measures it'})` : `${s.lag.seconds.toFixed(1)} s`}, ${s.lag.bytes === null ? '?' : s.lag.bytes.toLocaleString('en')} bytes`,
    `checkpoint    ${s.checkpoint ? `${s.checkpoint.position} (committed ${s.checkpoint.commitTime ?? '—'})` : 'none'}`,
    `applied       ${s.appliedTransactions.toLocaleString('en')} transactions`,
  ];
  if (s.backfill) {
    lines.push(`backfill      ${s.backfill.tablesDone}/${s.backfill.tablesTotal} tables, ${s.backfill.rowsCopied.toLocaleString('en')} rows${s.backfill.rowsPerSecond ? `, ${s.backfill.rowsPerSecond.toLocaleString('en')} rows/s` : ''}${s.backfill.etaSeconds ? `, ETA ${s.backfill.etaSeconds} s` : ''}, ${s.backfill.parallelTables} table(s) at once${s.backfill.rowsPerSecondLimit ? `, limit ${s.backfill.rowsPerSecondLimit.toLocaleString('en')} rows/s` : ''}`);
  }
  if (s.slot) {
    const r = s.slot.logRetention;
    const hours = (sec: number) => `${(sec / 3600).toFixed(sec < 36_000 ? 1 : 0)} h`;
    lines.push(
      !s.slot.exists
        ? 'source log  MISSING at the checkpoint (slot gone or binlog purged)'
        : r
          ? `binlog        checkpoint's file kept, ${r.headroomBytes.toLocaleString('en')} bytes of binlog before it; retention ${r.retentionSeconds === null ? 'none (purged by hand)' : hours(r.retentionSeconds)}`
          : `slot          present, retains ${(s.slot.retainedWalBytes ?? 0).toLocaleString('en')} bytes of WAL`,
    );
  }
  if (s.verification) {
    const v = s.verification;
    const never = v.tables.filter((t) => t.state === 'never').map((t) => t.table);
    lines.push(
      `verification  ${v.driftCount ? `${v.driftCount} drifted row(s)` : 'no drift found'}${v.unconfirmedCount ? `, ${v.unconfirmedCount} row(s) differ UNCONFIRMED` : ''}; last complete pass of every table: ${v.lastCompletePass ?? `not yet (never compared: ${never.join(', ') || 'none'})`}`,
    );
    for (const t of v.tables) {
      const detail =
        t.state === 'verified'
          ? `verified ${t.lastPassCompletedAt ?? ''} (${t.rowsCompared.toLocaleString('en')} rows${t.drift.length ? `, ${t.drift.length} drifted` : ', equal'})`
          : t.state === 'unconfirmed'
            ? `${t.unconfirmed?.rows ?? 0} row(s) differ, unconfirmed (${t.unconfirmed?.at ?? ''}): the shadow did not catch up in time`
            : t.state === 'failed'
              ? `last pass failed ${t.lastPassError?.at ?? ''}: ${t.lastPassError?.message ?? ''}`
              : t.state === 'in-progress'
                ? 'first pass in progress'
                : 'never compared';
      lines.push(`  ${t.table.padEnd(26)} ${detail}`);
      for (const d of t.drift.slice(0, 20)) lines.push(`    drift     ${d.kind} ${JSON.stringify(d.key)}${d.columns.length ? ` columns: ${d.columns.join(', ')}` : ''} (since ${d.firstSeen})`);
    }
  } else lines.push('verification  never run (tandem run verifies continuously; tandem verify runs a pass now)');
  if (s.tables) {
    const t = s.tables;
    lines.push(`tables        ${t.replicated.length} replicated${t.joining.length ? `, ${t.joining.length} joining (${t.joining.join(', ')})` : ''}${t.pending.length ? `, ${t.pending.length} NOT REPLICATED YET` : ''}${t.notReplicated.length ? `; left out by tables: ${t.notReplicated.join(', ')}` : ''}`);
    for (const p of t.pending) lines.push(`  pending     ${p.table}: ${p.reason}\n              fix: ${p.fix}`);
  }
  const r = s.planReview;
  lines.push(`plan review   ${r ? `by ${r.by} at ${r.at}; ${r.changedSince ? `CHANGED SINCE: ${r.changes.join('; ')}` : 'nothing material changed since'}` : 'never reviewed (tandem plan, then tandem plan --approve)'}`);
  if (s.lastError) lines.push(`last error    ${s.lastError}`);
  for (const e of s.errors) lines.push(`unavailable   ${e}`);
  if (s.lastKnownAt) lines.push(`last known    figures above from ${s.lastKnownAt} (cached on this host: the databases could not all be read now)`);
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('phase, direction, the running service, lag, checkpoint and backfill progress (asks the running service, or reads the databases)')
    .option('--json', 'print a machine-readable report')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const store = new StateStore(config, childLogger('status', { migration: config.migration }));
      try {
        const report = withLastKnown(config, await readStatus(config, store));
        if (opts.json) printJson(report);
        else printOut(renderStatus(report));
        // Scripts and monitors read the exit code: the truth could not be read, or replication stopped on an error.
        const stoppedByError = !report.running && !!report.lastStop && !report.lastStop.clean;
        const gone = report.service?.state === 'gone' || report.service?.state === 'not-responding';
        if (!report.readable || stoppedByError || gone) process.exitCode = ExitCode.runtime;
      } finally {
        await store.close();
      }
    });
}
