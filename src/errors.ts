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
  | 'TANDEM_AUTH_FAILED'
  | 'TANDEM_PRIVILEGE_MISSING'
  | 'TANDEM_UNSUPPORTED_URL'
  | 'TANDEM_SCHEMA_UNSUPPORTED'
  | 'TANDEM_SOURCE_MISCONFIGURED'
  | 'TANDEM_CAPTURE_SLOT_MISSING'
  | 'TANDEM_CAPTURE_POSITION_PURGED'
  | 'TANDEM_CAPTURE_DDL'
  | 'TANDEM_CAPTURE_ROW_IMAGE'
  | 'TANDEM_APPLY_FAILED'
  | 'TANDEM_VALUE_UNSUPPORTED'
  | 'TANDEM_GATE_REFUSED'
  | 'TANDEM_FENCE_FAILED'
  | 'TANDEM_SERVICE_NOT_RUNNING'
  | 'TANDEM_SWITCH_BACKED_OUT'
  | 'TANDEM_STATE'
  | 'TANDEM_STATE_CONFLICT'
  | 'TANDEM_LEASE_HELD'
  | 'TANDEM_LEASE_LOST'
  | 'TANDEM_DIRECTION_MISMATCH'
  | 'TANDEM_API_LISTEN'
  | 'TANDEM_API_UNAUTHORIZED'
  | 'TANDEM_API_FORBIDDEN'
  | 'TANDEM_API_BAD_REQUEST'
  | 'TANDEM_API_NOT_FOUND'
  | 'TANDEM_API_RATE_LIMITED'
  | 'TANDEM_APPROVAL_NOT_FOUND'
  | 'TANDEM_APPROVAL_SELF'
  | 'TANDEM_APPROVAL_EXPIRED'
  | 'TANDEM_INTERNAL';

const exitCodeOf: Record<TandemErrorCode, ExitCode> = {
  TANDEM_CONFIG_INVALID: ExitCode.usage,
  TANDEM_CONFIG_NOT_FOUND: ExitCode.usage,
  TANDEM_USAGE: ExitCode.usage,
  TANDEM_UNSUPPORTED_URL: ExitCode.usage,
  TANDEM_CONNECT_FAILED: ExitCode.runtime,
  TANDEM_AUTH_FAILED: ExitCode.runtime,
  TANDEM_PRIVILEGE_MISSING: ExitCode.runtime,
  TANDEM_SOURCE_MISCONFIGURED: ExitCode.runtime,
  TANDEM_SCHEMA_UNSUPPORTED: ExitCode.checkFailed,
  TANDEM_CAPTURE_SLOT_MISSING: ExitCode.runtime,
  TANDEM_CAPTURE_POSITION_PURGED: ExitCode.runtime,
  TANDEM_CAPTURE_DDL: ExitCode.runtime,
  TANDEM_CAPTURE_ROW_IMAGE: ExitCode.runtime,
  TANDEM_APPLY_FAILED: ExitCode.runtime,
  TANDEM_VALUE_UNSUPPORTED: ExitCode.runtime,
  TANDEM_GATE_REFUSED: ExitCode.refused,
  TANDEM_FENCE_FAILED: ExitCode.runtime,
  TANDEM_SERVICE_NOT_RUNNING: ExitCode.refused,
  TANDEM_SWITCH_BACKED_OUT: ExitCode.runtime,
  TANDEM_STATE: ExitCode.runtime,
  TANDEM_STATE_CONFLICT: ExitCode.refused,
  TANDEM_LEASE_HELD: ExitCode.refused,
  TANDEM_LEASE_LOST: ExitCode.runtime,
  TANDEM_DIRECTION_MISMATCH: ExitCode.refused,
  TANDEM_API_LISTEN: ExitCode.usage,
  TANDEM_API_UNAUTHORIZED: ExitCode.refused,
  TANDEM_API_FORBIDDEN: ExitCode.refused,
  TANDEM_API_BAD_REQUEST: ExitCode.usage,
  TANDEM_API_NOT_FOUND: ExitCode.usage,
  TANDEM_API_RATE_LIMITED: ExitCode.refused,
  TANDEM_APPROVAL_NOT_FOUND: ExitCode.refused,
  TANDEM_APPROVAL_SELF: ExitCode.refused,
  TANDEM_APPROVAL_EXPIRED: ExitCode.refused,
  TANDEM_INTERNAL: ExitCode.runtime,
};

/**
 * The one error type Tandem raises on purpose. `fix` tells the operator what to do; `retriable` tells the
 * retry policy whether waiting can help (a dropped connection) or cannot (a dropped slot).
 */
/** Where an error happened in the data, when known: for the log record and the operator. */
export interface ErrorPlace {
  table?: string;
  column?: string;
  /** The row's primary key, column by column. */
  key?: Record<string, string | null>;
  /** The source position of the transaction that failed (its begin). */
  position?: string;
}

export class TandemError extends Error {
  readonly code: TandemErrorCode;
  readonly fix: string | undefined;
  readonly retriable: boolean;
  /** Mutable on purpose: outer layers add what they know (the pipeline knows the position, not the writer). */
  place: ErrorPlace;

  constructor(code: TandemErrorCode, message: string, opts: { fix?: string; retriable?: boolean; cause?: unknown; place?: ErrorPlace } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TandemError';
    this.code = code;
    this.fix = opts.fix;
    this.retriable = opts.retriable ?? false;
    this.place = opts.place ?? {};
  }

  /** Adds what the caller knows about where it happened, keeping what is already known. */
  at(place: ErrorPlace): this {
    this.place = { ...place, ...this.place };
    return this;
  }

  get exitCode(): ExitCode {
    return exitCodeOf[this.code];
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
