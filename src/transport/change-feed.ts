/**
 * The port the replication pipeline reads from: source transactions in commit order, whatever carries them (the
 * embedded in-process queue fed by Tandem's own capture, or Kafka topics written by Debezium). The pipeline knows
 * nothing else about the transport, so a new one plugs in here without touching src/replicate.
 */
import type { CaptureEvent } from '../model/change.js';
import type { Checkpoint } from '../engines/engine.js';

export interface ChangeFeed {
  /**
   * Starts delivering every transaction after the checkpoint (its source position, or its transport offset where the
   * transport has one). Refuses, naming what is missing, when the feed cannot continue exactly there: a transaction
   * it cannot deliver any more would be silently skipped. `onRead` sees every event as soon as the transport has it,
   * before it is queued for the pipeline (lag counts transactions from there).
   */
  open(from: Checkpoint, hooks?: { onRead?(event: CaptureEvent): void }): Promise<FeedSubscription>;
}

export interface FeedSubscription {
  /** The next event, waiting for one; undefined once the feed is closed and drained. */
  next(): Promise<CaptureEvent | undefined>;
  /**
   * The next event if one is already queued, without a promise; undefined otherwise (then next() waits). A large
   * transaction's million changes would each cost a promise and a turn of the microtask queue through next().
   */
  take?(): CaptureEvent | undefined;
  /** Events delivered and not yet read: 0 means the pipeline has everything the feed has for now. */
  readonly backlog: number;
  /** Everything up to `sourcePosition` (and `transportOffset`) is committed on the shadow: the feed may release it. */
  acknowledge(sourcePosition: string, transportOffset?: string | null): void;
  /** Settles when the feed ends: resolves after close(), rejects when the source or transport failed. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/**
 * A feed split into lanes applied in parallel (the Kafka transport with `ordering: key`): each lane is a ChangeFeed
 * whose positions are its own (partition offsets, ordered by `compareLane`), so the source position the shadow holds
 * is known only for all lanes together, from `barrier`.
 */
export interface LaneFeed {
  readonly partitions: number;
  lane(index: number): ChangeFeed;
  compareLane(a: string, b: string): number;
  /** The lanes' start before any record of theirs (the position of a lane checkpoint with no offset yet). */
  readonly laneStart: string;
  /** The source position every lane has applied through, or undefined when it cannot be told within `waitMs`. */
  barrier(waitMs: number): Promise<string | undefined>;
  close(): Promise<void>;
}

export function isLaneFeed(feed: ChangeFeed | LaneFeed): feed is LaneFeed {
  return 'lane' in feed;
}
