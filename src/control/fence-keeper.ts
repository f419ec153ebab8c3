/**
 * Keeps the shadow side fenced for as long as it is the shadow (DESIGN.md: "The shadow side is always fenced"), so
 * an application that writes to the wrong database is refused instead of splitting the data (H24). The fence lives
 * in the database; this only puts it up at start and puts it back when it finds it gone: a MariaDB restart clears
 * read_only, a table that joined has no trigger yet, a side that was unreachable comes back.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import type { SwitchSide } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import type { SideName } from '../model/direction.js';

export interface FenceKeeperOptions {
  config: TandemConfig;
  /** The side kept fenced, and the active side its error names. */
  side: SideName;
  activeSide: SideName;
  /** The tables of the migration now (tables that join are fenced as they appear). */
  tables: () => string[];
  log: Logger;
  /** A fence that cannot be put up for a reason waiting cannot cure (a missing privilege). */
  onFatal: (err: TandemError) => void;
}

export class FenceKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private switchSide: SwitchSide | undefined;
  private stopped = false;
  /** Whether the side was found fenced at the last look (status and rollback readiness read it). */
  fenced: boolean | null = null;
  private warnedUnreachable = false;

  constructor(private readonly opts: FenceKeeperOptions) {}

  start(): void {
    const tick = () => {
      this.running = this.running.then(() => this.assert());
    };
    tick();
    this.timer = setInterval(tick, this.opts.config.fence.interval);
    this.timer.unref();
  }

  /** Checks the fence now and puts it up when it is missing on any table. */
  private async assert(): Promise<void> {
    if (this.stopped) return;
    const { config, side, activeSide, log } = this.opts;
    const tables = this.opts.tables();
    if (tables.length === 0) return;
    try {
      this.switchSide ??= await engineForUrl(config[side].url).openSwitchSide(config[side].url);
      const fenced = await this.switchSide.fencedTables({ migration: config.migration, tables });
      if (fenced.length === tables.length) {
        this.fenced = true;
        return;
      }
      const missing = tables.filter((t) => !fenced.includes(t));
      await this.switchSide.fence({ migration: config.migration, side, activeSide, tables, timeoutMs: config.cutover.fenceTimeout });
      this.fenced = true;
      this.warnedUnreachable = false;
      log.info({ side, tables: missing.length > 10 ? `${missing.length} tables` : missing }, `${side} (the shadow) fenced: application writes to it are refused`);
    } catch (err) {
      this.fenced = null;
      await this.switchSide?.close().catch(() => undefined);
      this.switchSide = undefined;
      if (err instanceof TandemError && !err.retriable) {
        this.opts.onFatal(
          new TandemError(err.code === 'TANDEM_FENCE_FAILED' ? err.code : 'TANDEM_FENCE_FAILED', `the shadow (${side}) cannot be fenced: ${err.message}`, {
            fix: `${err.fix ?? 'grant what tandem check lists for fencing'}; or set fence.shadow: false in tandem.yaml to run with a writable shadow (a misrouted application could then split the data)`,
            cause: err,
          }),
        );
        return;
      }
      if (!this.warnedUnreachable) log.warn({ side, err: errorMessage(err) }, `cannot check the fence on ${side} now; trying again every ${config.fence.interval} ms`);
      this.warnedUnreachable = true;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.switchSide?.close().catch(() => undefined);
    this.switchSide = undefined;
  }
}
