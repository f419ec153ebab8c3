import { UNCHANGED, keyOf, type Change, type Row, type RowImage } from '../model/change.js';

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
 * to the source. Consecutive upserts (or deletes) of one table share a statement until a key repeats, because a
 * statement cannot touch the same row twice and order between its rows is not defined.
 */
export function planChanges(changes: Change[], primaryKeyOf: (table: string) => string[], maxRows: number): ApplyOp[] {
  const ops: ApplyOp[] = [];
  let open: Extract<ApplyOp, { kind: 'upsert' | 'delete' }> | undefined;
  let openSignature = '';
  let openKeys = new Set<string>();

  const close = () => {
    if (open) ops.push(open);
    open = undefined;
    openKeys = new Set();
  };
  const add = (kind: 'upsert' | 'delete', table: string, row: Row, key: string[], fromInsert = false) => {
    const rowKey = keyOf(row, key);
    const keyText = serializeKey(rowKey);
    const columns = kind === 'upsert' ? Object.keys(row) : key;
    // Rows of one statement must share their column list (a table's rows from one source always do).
    const signature = kind === 'upsert' ? columns.join('\u0000') : '';
    const size = open ? (open.kind === 'upsert' ? open.rows.length : open.keys.length) : 0;
    if (!open || open.kind !== kind || open.table !== table || openKeys.has(keyText) || size >= maxRows || openSignature !== signature) {
      close();
      open = kind === 'upsert' ? { kind, table, columns, rows: [], insertsOnly: true } : { kind, table, key, keys: [] };
      openSignature = signature;
    }
    if (open.kind === 'upsert') {
      open.rows.push(row);
      if (!fromInsert) open.insertsOnly = false;
    }
    else open.keys.push(rowKey);
    openKeys.add(keyText);
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

function complete(row: RowImage | undefined): Row {
  return (row ?? {}) as Row;
}

/** A key as text that distinguishes every value (Buffers by their bytes, NULL from the string "null"). */
export function serializeKey(key: Row): string {
  const values = Object.values(key);
  // The common case, one text key, needs no JSON: a prefix keeps it apart from the JSON forms below.
  if (values.length === 1 && typeof values[0] === 'string') return `s${values[0]}`;
  return JSON.stringify(values.map((v) => (v === null ? null : Buffer.isBuffer(v) ? { b: v.toString('hex') } : v)));
}
