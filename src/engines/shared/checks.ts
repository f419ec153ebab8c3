/** One line of a preflight report: what was checked, what was found, and the exact fix when it failed. */
export interface CheckItem {
  /** Stable identifier, e.g. `postgres.wal_level`, for scripts reading `--json`. */
  id: string;
  status: 'pass' | 'warn' | 'fail';
  /** Which side the check is about, or `both` for schema checks. */
  side: 'old' | 'new' | 'both' | 'kafka';
  title: string;
  detail: string;
  fix?: string;
  /**
   * One item may stand for several columns of a table (limits of their type mappings, say): each column with its
   * own detail and fix. `--json` prints them as they are; the text report prints one line per distinct fix.
   */
  columns?: ColumnCheck[];
}

export interface ColumnCheck {
  column: string;
  detail: string;
  fix?: string;
}

export function pass(id: string, side: CheckItem['side'], title: string, detail: string): CheckItem {
  return { id, status: 'pass', side, title, detail };
}
export function fail(id: string, side: CheckItem['side'], title: string, detail: string, fix: string): CheckItem {
  return { id, status: 'fail', side, title, detail, fix };
}
export function warn(id: string, side: CheckItem['side'], title: string, detail: string, fix: string): CheckItem {
  return { id, status: 'warn', side, title, detail, fix };
}
