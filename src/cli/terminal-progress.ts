/**
 * Progress of long commands on the terminal (rows or steps done of the total, rate, ETA), drawn by cli-progress on
 * stderr. Only on a terminal and never with --json: piped or scripted output stays exactly what it was.
 */
import cliProgress from 'cli-progress';

export interface TerminalProgress {
  /**
   * Sets the total and the current value, with what the line says beside the bar (`detail`: a function is only
   * called when a bar is drawn, so nothing is formatted for piped output).
   */
  update(value: number, total: number, detail?: string | (() => string)): void;
  stop(): void;
}

const NONE: TerminalProgress = { update: () => undefined, stop: () => undefined };

/** `label` names the work (verify, backfill, cutover); `unit` what is counted (rows, tables, steps). */
export function terminalProgress(label: string, unit: string, opts: { json?: boolean; stream?: NodeJS.WriteStream } = {}): TerminalProgress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || !stream.isTTY) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {detail} | ETA {eta_formatted}`,
      barCompleteChar: '#',
      barIncompleteChar: '.',
      barsize: 24,
      hideCursor: true,
      etaBuffer: 20,
      fps: 4,
    },
    cliProgress.Presets.legacy,
  );
  let started = false;
  return {
    update(value, total, describe = '') {
      const detail = typeof describe === 'function' ? describe() : describe;
      if (!started) {
        bar.start(Math.max(total, 1), value, { detail });
        started = true;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(value, { detail });
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
