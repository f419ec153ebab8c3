/**
 * Exit codes shared by every `tandem` command. Operators script against these, so they never change meaning.
 */
export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  refused: 3,
  runtime: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type TandemErrorCode =
  | 'TANDEM_CONFIG_INVALID'
  | 'TANDEM_CONFIG_NOT_FOUND'
  | 'TANDEM_USAGE'
  | 'TANDEM_CONNECT_FAILED'
  | 'TANDEM_UNSUPPORTED_URL'
  | 'TANDEM_SCHEMA_UNSUPPORTED'
  | 'TANDEM_CAPTURE_SLOT_MISSING'
  | 'TANDEM_CAPTURE_POSITION_PURGED'
  | 'TANDEM_CAPTURE_DDL'
  | 'TANDEM_CAPTURE_ROW_IMAGE'
  | 'TANDEM_APPLY_FAILED'
  | 'TANDEM_VALUE_UNSUPPORTED'
  | 'TANDEM_GATE_REFUSED'
  | 'TANDEM_STATE'
  | 'TANDEM_INTERNAL';

const exitCodeOf: Record<TandemErrorCode, ExitCode> = {
  TANDEM_CONFIG_INVALID: ExitCode.usage,
  TANDEM_CONFIG_NOT_FOUND: ExitCode.usage,
  TANDEM_USAGE: ExitCode.usage,
  TANDEM_UNSUPPORTED_URL: ExitCode.usage,
  TANDEM_CONNECT_FAILED: ExitCode.runtime,
  TANDEM_SCHEMA_UNSUPPORTED: ExitCode.checkFailed,
  TANDEM_CAPTURE_SLOT_MISSING: ExitCode.runtime,
  TANDEM_CAPTURE_POSITION_PURGED: ExitCode.runtime,
  TANDEM_CAPTURE_DDL: ExitCode.runtime,
  TANDEM_CAPTURE_ROW_IMAGE: ExitCode.runtime,
  TANDEM_APPLY_FAILED: ExitCode.runtime,
  TANDEM_VALUE_UNSUPPORTED: ExitCode.runtime,
  TANDEM_GATE_REFUSED: ExitCode.refused,
  TANDEM_STATE: ExitCode.runtime,
  TANDEM_INTERNAL: ExitCode.runtime,
};

/**
 * The one error type Tandem raises on purpose. `fix` tells the operator what to do; `retriable` tells the
 * retry policy whether waiting can help (a dropped connection) or cannot (a dropped slot).
 */
export class TandemError extends Error {
  readonly code: TandemErrorCode;
  readonly fix: string | undefined;
  readonly retriable: boolean;

  constructor(code: TandemErrorCode, message: string, opts: { fix?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TandemError';
    this.code = code;
    this.fix = opts.fix;
    this.retriable = opts.retriable ?? false;
  }

  get exitCode(): ExitCode {
    return exitCodeOf[this.code];
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
