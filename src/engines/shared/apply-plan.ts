import { UNCHANGED, keyOf, type Change, type Row, type RowChange, type RowImage } from '../../model/change.js';

/** What a shadow writer executes: multi-row where order allows, one statement otherwise. */
export type ApplyOp =
  /** `insertsOnly`: every row came from an INSERT, so on a shadow in step none of them exists yet. */
  | { kind: 'upsert'; table: string; columns: string[]; rows: Row[]; insertsOnly: boolean }
  | { kind: 'delete'; table: string; key: string[]; keys: Row[] }
  | { kind: 'update'; table: string; key: Row; set: Row }
  | { kind: 'truncate'; tables: string[] };

/**
 * Turns ordered changes into statements without changing their effect. Inserts and full-row updates become
 * idempotent upserts, so a transaction replayed after a crash (or rows a resumed backfill already holds) converge
 * to the source. Consecutive upserts (or deletes) of one table share a statement. A statement cannot touch the same
 * row twice and order between its rows is not defined, so a repeated key either replaces the row it already holds
 * (a full row after a full row of the same key: the later one is the row's state after both, as when an order is
 * inserted and then updated in one transaction) or starts a new statement. A table whose trigger fires for replicated
 * rows (`keepsEveryWrite`) gets every write, as the source made them.
 */
export function planChanges(
  changes: Change[],
  primaryKeyOf: (table: string) => string[],
  maxRows: number,
  /** Tables whose every write must reach the shadow as written (a trigger fires for replicated rows): none collapsed. */
  keepsEveryWrite: (table: string) => boolean = () => false,
): ApplyOp[] {
  const ops: ApplyOp[] = [];
  let open: Extract<ApplyOp, { kind: 'upsert' | 'delete' }> | undefined;
  /** The keys the open statement holds, with their row's place in it. */
  let openKeys = new Map<string, number>();

  const close = () => {
    if (open) ops.push(open);
    open = undefined;
    openKeys = new Map();
  };
  // Runs for every row of a bulk transaction: nothing here allocates beyond the key's text unless a statement starts.
  const add = (kind: 'upsert' | 'delete', table: string, row: Row, key: string[], fromInsert = false) => {
    const keyText = keyTextOf(row, key);
    // Rows of one statement must share their column list (a table's rows from one source always do).
    const sameStatement = open !== undefined && open.kind === kind && open.table === table && (open.kind === 'delete' || sameColumns(row, open.columns));
    const size = open ? (open.kind === 'upsert' ? open.rows.length : open.keys.length) : 0;
    const held = sameStatement ? openKeys.get(keyText) : undefined;
    if (open?.kind === 'upsert' && held !== undefined && !keepsEveryWrite(table)) {
      // The earlier full row is superseded. insertsOnly stays as it was: a row inserted and then updated did not
      // exist before either; one updated twice had already made the statement an upsert.
      open.rows[held] = row;
      return;
    }
    if (!open || !sameStatement || held !== undefined || size >= maxRows) {
      close();
      open = kind === 'upsert' ? { kind, table, columns: Object.keys(row), rows: [], insertsOnly: true } : { kind, table, key, keys: [] };
    }
    if (open.kind === 'upsert') {
      openKeys.set(keyText, open.rows.length);
      open.rows.push(row);
      if (!fromInsert) open.insertsOnly = false;
    } else {
      openKeys.set(keyText, open.keys.length);
      open.keys.push(keyOf(row, key));
    }
  };

  for (const change of changes) {
    if (change.op === 'truncate') {
      close();
      ops.push({ kind: 'truncate', tables: change.tables });
      continue;
    }
    const key = primaryKeyOf(change.table);
    if (change.op === 'insert') {
      add('upsert', change.table, complete(change.after), key, true);
    } else if (change.op === 'delete') {
      add('delete', change.table, change.before ?? {}, key);
    } else {
      const after = change.after ?? {};
      const before = change.before && Object.keys(change.before).length > 0 ? keyOf(change.before, key) : keyOf(after, key);
      const keyChanged = serializeKey(before) !== serializeKey(keyOf(after, key));
      if (Object.values(after).some((v) => v === UNCHANGED)) {
        // Unchanged out-of-line values are not in the stream: an UPDATE in place (moving the key if it changed)
        // sets only what the stream carries, and the shadow row keeps the rest.
        close();
        const set: Row = {};
        for (const [c, v] of Object.entries(after)) if (v !== UNCHANGED && (keyChanged || !key.includes(c))) set[c] = v as Row[string];
        ops.push({ kind: 'update', table: change.table, key: before, set });
      } else {
        if (keyChanged) add('delete', change.table, before, key);
        add('upsert', change.table, complete(after), key);
      }
    }
  }
  close();
  return ops;
}

/**
 * The changes of one shadow transaction regrouped table by table, each table's changes in their source order, so
 * planChanges can turn a busy shop's interleaved order / line / stock / event rows into a few multi-row statements
 * instead of one statement per row. The shadow transaction commits all of them at once, and nothing on the shadow
 * sees one table's rows before another's: apply runs with triggers and foreign-key checks quiet, and every
 * constraint that is checked (primary and unique keys, checks, exclusions) is within one table, whose order is
 * kept. Where that does not hold, the order is kept: TRUNCATE is a barrier (it empties tables at one point of the
 * sequence), and a table for which `keepsOrder` says so (a trigger fires for replicated rows) pins every change of
 * its stretch in place.
 */
export function regroupByTable(changes: Change[], keepsOrder: (table: string) => boolean): Change[] {
  const out: Change[] = [];
  let stretch: Change[] = [];
  const flush = () => {
    if (stretch.length > 1 && !stretch.some((c) => c.op !== 'truncate' && keepsOrder(c.table))) {
      const byTable = new Map<string, Change[]>();
      for (const c of stretch) {
        const table = (c as RowChange).table;
        let list = byTable.get(table);
        if (!list) byTable.set(table, (list = []));
        list.push(c);
      }
      for (const list of byTable.values()) out.push(...list);
    } else out.push(...stretch);
    stretch = [];
  };
  for (const c of changes) {
    if (c.op === 'truncate') {
      flush();
      out.push(c);
    } else stretch.push(c);
  }
  flush();
  return out;
}

function complete(row: RowImage | undefined): Row {
  return (row ?? {}) as Row;
}

/** serializeKey of the row's key, without building the key first when it is one text column (the common case). */
function keyTextOf(row: Row, key: string[]): string {
  if (key.length === 1) {
    const v = row[key[0] as string];
    if (typeof v === 'string') return textKey(v);
  }
  return serializeKey(keyOf(row, key));
}

/** Whether the row's columns are exactly `columns`, in that order. */
function sameColumns(row: Row, columns: string[]): boolean {
  let i = 0;
  for (const c in row) {
    if (columns[i] !== c) return false;
    i++;
  }
  return i === columns.length;
}

/** serializeKey of a key that is one text value: a prefix keeps it apart from the JSON forms. */
const textKey = (value: string) => `s${value}`;

/** A key as text that distinguishes every value (Buffers by their bytes, NULL from the string "null"). */
export function serializeKey(key: Row): string {
  const values = Object.values(key);
  // The common case, one text key, needs no JSON.
  if (values.length === 1 && typeof values[0] === 'string') return textKey(values[0]);
  return JSON.stringify(values.map((v) => (v === null ? null : Buffer.isBuffer(v) ? { b: v.toString('hex') } : v)));
}
