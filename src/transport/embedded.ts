import type { CaptureEvent } from '../model/change.js';
import type { CaptureSink } from '../engines/engine.js';

/**
 * The in-process transport: a FIFO of capture events bounded by the number of row changes it holds. When full,
 * the capture stops reading from the source (backpressure); memory stays bounded however large a transaction is.
 */
export class EmbeddedQueue implements CaptureSink {
  private items: CaptureEvent[] = [];
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
    const event = this.items[this.head++] as CaptureEvent;
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
