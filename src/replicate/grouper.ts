import type { Change } from '../model/change.js';

/**
 * Decides when the open shadow transaction commits. Small consecutive source transactions share one shadow
 * transaction (one round trip and one checkpoint write for many), bounded by rows and by time; the group also
 * commits as soon as the feed has nothing more waiting, so a quiet stream is never held back by the timer.
 *
 * A busy stream of small transactions often has nothing waiting either: each arrives a fraction of a millisecond
 * after the last, and committing each alone costs the shadow a commit, a checkpoint write and several statements
 * per source transaction (measured: 5× the CPU per transaction of groups of 20). So after a commit, the next group
 * commits for lack of a backlog only `commitDelayMs` after it (the deadline): a quiet stream's transaction, arriving
 * later than that, still commits at once; a busy stream's transactions share commits, at most one per delay.
 */
export class TransactionGrouper {
  private rows = 0;
  private started = 0;
  private lastCommit = Number.NEGATIVE_INFINITY;
  /** Source transactions in the open group. */
  transactions = 0;

  constructor(
    private readonly limits: { batchRows: number; batchTimeMs: number; commitDelayMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  get open(): boolean {
    return this.transactions > 0;
  }

  /** When a group held for lack of a backlog commits anyway, on the grouper's clock. */
  get deadline(): number {
    return Math.min(this.lastCommit + this.limits.commitDelayMs, this.started + this.limits.batchTimeMs);
  }

  /** How long an open group between source transactions is still held for lack of a backlog (0 or less: not held). */
  holdMs(): number {
    return this.open ? this.deadline - this.now() : 0;
  }

  beginTransaction(): void {
    if (this.transactions === 0) this.started = this.now();
    this.transactions++;
  }

  addRows(n: number): void {
    this.rows += n;
  }

  /** After a source transaction committed: should the group commit now? */
  shouldCommit(opts: { backlog: number; stopping: boolean }): boolean {
    const now = this.now();
    if (opts.stopping || this.rows >= this.limits.batchRows || now - this.started >= this.limits.batchTimeMs) return true;
    return opts.backlog === 0 && now >= this.deadline;
  }

  /**
   * The source said it has sent everything (a walsender's keepalive): should the open shadow transaction commit? Not
   * while its group is held, and not when more events already wait behind the keepalive. A busy walsender sends one
   * each time it catches up, so by the time it is read the next transactions may be queued: the group commits with
   * them instead of as a shadow commit of its own.
   */
  commitsOnIdle(backlog: number): boolean {
    return backlog === 0 && this.holdMs() <= 0;
  }

  committed(): void {
    // An idle acknowledgement (a commit without source transactions) says nothing about how busy the stream is.
    if (this.transactions > 0) this.lastCommit = this.now();
    this.rows = 0;
    this.transactions = 0;
  }
}

/** One source transaction of the open group, kept so the group can be taken apart if one of them fails. */
export interface BufferedTransaction {
  begin: string;
  changes: Change[];
  commit?: { position: string; commitTime: Date; transportOffset: string | null };
}

/**
 * The open group's transactions, while they are small enough to keep (up to `limit` changes). A fatal error in a
 * group of several transactions would otherwise roll back good transactions with the bad one; with the group kept,
 * the pipeline applies each transaction on its own and stops exactly at the failing one. When one transaction
 * outgrows the limit, the group is split first (GroupBuffer.mustSplit): the complete transactions are committed,
 * and the large one goes on alone, where nothing needs keeping.
 */
export class GroupBuffer {
  private txs: BufferedTransaction[] = [];
  private changes = 0;
  /** False once the group holds a single transaction too large to keep: nothing to isolate then. */
  keeping = true;

  constructor(private readonly limit: number) {}

  get transactions(): readonly BufferedTransaction[] {
    return this.txs;
  }

  begin(position: string): void {
    if (!this.keeping) return;
    this.txs.push({ begin: position, changes: [] });
  }

  add(change: Change): void {
    if (!this.keeping) return;
    (this.txs[this.txs.length - 1] as BufferedTransaction).changes.push(change);
    this.changes++;
    // One transaction alone needs no isolation: a large one is never kept, so memory stays bounded by the feed.
    if (this.changes > this.limit && this.txs.length === 1) this.keepOnlyCurrent();
  }

  commit(position: string, commitTime: Date, transportOffset: string | null): void {
    const last = this.txs[this.txs.length - 1];
    if (this.keeping && last) last.commit = { position, commitTime, transportOffset };
  }

  /** The group holds earlier transactions and the current one has made it too large to keep. */
  mustSplit(): boolean {
    return this.keeping && this.txs.length > 1 && this.changes > this.limit;
  }

  /** After a split: only the current (large) transaction is in the group, and it is not kept. */
  keepOnlyCurrent(): void {
    this.txs = [];
    this.changes = 0;
    this.keeping = false;
  }

  clear(): void {
    this.txs = [];
    this.changes = 0;
    this.keeping = true;
  }
}
