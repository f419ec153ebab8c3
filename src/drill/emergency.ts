/**
 * The drill's emergency-rollback rehearsal (drill.stopNew, drill.startNew; docs/plan.md): new taken down while it
 * is active, then the emergency rollback through the API, as the incident runbook has it. Measured: the time to
 * roll back (request to old taking writes), the writes the router held and the writes that failed from the moment
 * new went down, and what the emergency rollback lost — acknowledged writes made on new that had not streamed back
 * to old. Losing those is what an emergency rollback accepts (it skips the drain), so they are counted and named,
 * not a failed drill; a write acknowledged on old that old no longer has would be, as would old not taking writes.
 * New is then started again and found fenced; it must be copied again before it receives changes, which needs the
 * service stopped (the copy takes the lease): the report says so in `next`.
 */
import type { DrillCycle, EmergencyRehearsal } from '../control/plan-review.js';
import type { SwitchResult } from '../model/switch.js';
import { switchOnce, type DrillRun } from './switch-once.js';
import { readRefs } from './load.js';
import { runShell } from './shell.js';
import { until } from './wait.js';

const COMMAND_TIMEOUT_MS = 180_000;
/** Enough acknowledged writes on new before it is stopped that the rehearsal can lose some (most stream back first). */
const WRITES_ON_NEW = 20;

export async function rehearseEmergency(run: DrillRun, commands: { stopNew: string; startNew: string }): Promise<EmergencyRehearsal | undefined> {
  const { config, service, load, urls, table, waitMs, say, reasons } = run;
  const label = 'the emergency rehearsal';
  if ((await switchOnce(run, 'cutover', label)) !== 'done') return undefined;
  const since = Date.now();
  await until(60_000, async () => (load.acksOn('new', since) >= WRITES_ON_NEW ? true : undefined));

  const heldBefore = load.counters.held;
  const failedBefore = load.counters.failed;
  say(`${label}: stopping new (drill.stopNew)`);
  const stopNew = await runShell(commands.stopNew, COMMAND_TIMEOUT_MS);
  const rehearsal: EmergencyRehearsal = { stopNew, startNew: null, newFenced: null, lastAppliedPosition: null, lostRefs: [], lostStillOnNew: [], updatesLost: 0, resyncRequired: false, next: [] };
  const down = stopNew.ok && (await until(30_000, async () => ((await readRefs(urls.new, table).then(() => false, () => true)) ? true : undefined)));
  if (!down) {
    reasons.push(stopNew.ok ? 'drill.stopNew exited 0 but new still answered 30 s later: the emergency rollback was not rehearsed' : `drill.stopNew failed (${stopNew.detail}): the emergency rollback was not rehearsed`);
    // New is up: an ordinary rollback leaves the pair as the drill found it.
    say(`${label}: rolling back normally instead`);
    await switchOnce(run, 'rollback', label);
    return rehearsal;
  }

  say(`${label}: new is down; emergency rollback`);
  const requested = Date.now();
  const r = await service.request<SwitchResult & { error?: { message?: string } }>('POST', '/api/v1/rollback', { expectedPhase: 'cutover', emergency: true, acceptDataLoss: true }, config.cutover.emergencyFenceTimeout + 10 * 60_000);
  const result = r.body;
  const cycle: DrillCycle = {
    switch: 'emergency-rollback',
    result: result.result ?? `HTTP ${r.status}`,
    windowMs: result.windowMs ?? null,
    timeToRollbackMs: null,
    writesHeld: 0,
    writesFailed: 0,
    rowsLost: 0,
    drift: 0,
    gates: result.gates ?? [],
  };
  run.cycles.push(cycle);
  rehearsal.newFenced = result.emergency?.newFenced ?? null;
  rehearsal.lastAppliedPosition = result.emergency?.lastAppliedPosition ?? null;
  if (result.result === 'done') {
    const firstWrite = await until(60_000, async () => load.firstAckOn('old', requested));
    cycle.timeToRollbackMs = firstWrite === undefined ? null : firstWrite - requested;
    if (firstWrite === undefined) reasons.push(`after the emergency rollback, no write reached old in 60 s`);
    // What old has of every acknowledged write, taken after the acknowledgements it is compared with.
    const acked = [...load.counters.acked.entries()];
    const updates = new Map(load.counters.updates);
    const onOld = await readRefs(urls.old, table);
    const lostOnOld = acked.filter(([ref, a]) => a.side === 'old' && !onOld.has(ref)).map(([ref]) => ref);
    rehearsal.lostRefs = acked.filter(([ref, a]) => a.side === 'new' && !onOld.has(ref)).map(([ref]) => ref);
    rehearsal.updatesLost = [...updates].filter(([ref, n]) => onOld.has(ref) && (onOld.get(ref) ?? 0) < n).length;
    cycle.rowsLost = rehearsal.lostRefs.length + lostOnOld.length;
    if (lostOnOld.length) reasons.push(`${lostOnOld.length} write(s) acknowledged on old are not on old after the emergency rollback: ${lostOnOld.slice(0, 5).join(', ')}`);
  } else {
    reasons.push(`the emergency rollback ended ${cycle.result}: ${result.error?.message ?? 'no reason given'}`);
  }
  cycle.writesHeld = load.counters.held - heldBefore;
  cycle.writesFailed = load.counters.failed - failedBefore;

  say(`${label}: starting new again (drill.startNew)`);
  rehearsal.startNew = await runShell(commands.startNew, COMMAND_TIMEOUT_MS);
  const onNew = rehearsal.startNew.ok ? await until(waitMs, () => readRefs(urls.new, table)) : undefined;
  if (!onNew) {
    reasons.push(rehearsal.startNew.ok ? `drill.startNew exited 0 but new did not answer in ${waitMs / 1000} s` : `drill.startNew failed (${rehearsal.startNew.detail}): start new by hand`);
  } else {
    rehearsal.lostStillOnNew = rehearsal.lostRefs.filter((ref) => onNew.has(ref));
  }
  const status = await run.status().catch(() => undefined);
  rehearsal.resyncRequired = status?.resyncRequired ?? result.result === 'done';
  if (rehearsal.lostStillOnNew.length) {
    rehearsal.next.push(`${rehearsal.lostStillOnNew.length} lost write(s) are still on new (refs in lostStillOnNew of table ${table}): copy them to old by hand now if they matter — the re-copy below replaces new's rows`);
  }
  if (rehearsal.resyncRequired) {
    rehearsal.next.push('new must be copied again before it receives changes: stop tandem run, run tandem backfill --yes, start tandem run (docs/switch.md, Emergency rollback); old stays active throughout');
  }
  return rehearsal;
}
