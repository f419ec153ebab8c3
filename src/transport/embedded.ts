import { TandemError } from '../errors.js';
import type { CaptureEvent } from '../model/change.js';
import { appliedThrough, type CaptureSink, type CaptureSource, type Checkpoint } from '../engines/engine.js';
import type { ChangeFeed, FeedSubscription } from './change-feed.js';

/**
 * The in-process transport: a FIFO of capture events bounded by the number of row changes it holds. When full,
 * the capture stops reading from the source (backpressure); memory stays bounded however large a transaction is.
 */
export class EmbeddedQueue implements CaptureSink {
  /** Taken slots are cleared at once: an event held here until the next compaction would outlive young-generation GC. */
  private items: Array<CaptureEvent | undefined> = [];
  private head = 0;
  private changes = 0;
  private roomWaiters: Array<() => void> = [];
  private itemWaiter: (() => void) | undefined;
  private closed = false;

  constructor(private readonly maxChanges: number) {}

  push(event: CaptureEvent): void {
    this.items.push(event);
    if (event.kind === 'change') this.changes++;
    this.itemWaiter?.();
    this.itemWaiter = undefined;
  }

  isFull(): boolean {
    return this.changes >= this.maxChanges;
  }

  waitForRoom(): Promise<void> {
    if (!this.isFull() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** The next event, waiting for one; undefined once closed and drained. */
  async next(): Promise<CaptureEvent | undefined> {
    while (this.size === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.itemWaiter = resolve));
    }
    return this.take();
  }

  /** The next event if one is queued, else undefined. */
  take(): CaptureEvent | undefined {
    if (this.size === 0) return undefined;
    const event = this.items[this.head] as CaptureEvent;
    this.items[this.head++] = undefined;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (event.kind === 'change') {
      this.changes--;
      // Resume the source at half capacity, not at the first free slot, so it reads in large gulps.
      if (this.changes <= this.maxChanges / 2) this.releaseWaiters();
    }
    return event;
  }

  close(): void {
    this.closed = true;
    this.itemWaiter?.();
    this.itemWaiter = undefined;
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Refuses to stream from a slot that cannot continue exactly where the checkpoint is: a missing slot, or one
 * whose confirmed position is past anything Tandem acknowledged (it was dropped and created again).
 */
export async function assertSlotContinues(source: CaptureSource, cp: Checkpoint): Promise<void> {
  const slot = await source.slotState(cp.sourcePosition);
  const fix = 'run `tandem backfill --yes` to copy the tables again from a new consistent point';
  if (!slot.exists && slot.missing) {
    throw new TandemError('TANDEM_CAPTURE_POSITION_PURGED', `${slot.missing}, so changes after checkpoint ${cp.sourcePosition} cannot be read; continuing would silently skip them`, { fix });
  }
  if (!slot.exists) {
    throw new TandemError('TANDEM_CAPTURE_SLOT_MISSING', `the replication slot is gone, so changes after checkpoint ${cp.sourcePosition} cannot be read; continuing would silently skip them`, { fix });
  }
  const acked = appliedThrough(cp, (a, b) => source.comparePositions(a, b));
  if (slot.confirmedPosition && source.comparePositions(slot.confirmedPosition, acked) > 0) {
    throw new TandemError(
      'TANDEM_CAPTURE_SLOT_MISSING',
      `the replication slot starts at ${slot.confirmedPosition}, after Tandem's checkpoint ${acked}: it was dropped and created again, and the changes in between are lost to it`,
      { fix },
    );
  }
}

/** The embedded transport as a ChangeFeed: Tandem's own capture of the active side, through the bounded queue. */
export class EmbeddedFeed implements ChangeFeed {
  constructor(
    private readonly source: CaptureSource,
    private readonly queueChanges: number,
  ) {}

  async open(from: Checkpoint, hooks: { onRead?(event: CaptureEvent): void } = {}): Promise<FeedSubscription> {
    await assertSlotContinues(this.source, from);
    const queue = new EmbeddedQueue(this.queueChanges);
    const onRead = hooks.onRead;
    const sink: CaptureSink = onRead
      ? {
          push: (event) => {
            onRead(event);
            queue.push(event);
          },
          isFull: () => queue.isFull(),
          waitForRoom: () => queue.waitForRoom(),
        }
      : queue;
    const stream = await this.source.start(from.sourcePosition, sink);
    const done = stream.done.finally(() => queue.close());
    done.catch(() => undefined);
    return {
      next: () => queue.next(),
      take: () => queue.take(),
      get backlog() {
        return queue.size;
      },
      acknowledge: (position) => stream.acknowledge(position),
      done,
      close: async () => {
        queue.close();
        await stream.stop();
      },
    };
  }
}
