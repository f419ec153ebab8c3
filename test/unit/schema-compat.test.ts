import { describe, expect, it } from 'vitest';
import { renderReport } from '../../src/cli/commands/check.js';
import type { CheckItem } from '../../src/engines/shared/checks.js';
import type { ColumnSchema, EngineKind, TableSchema } from '../../src/model/schema.js';
import { compareTableSchemas } from '../../src/schema/compat.js';

type Columns = Array<[name: string, nativeType: string]>;

const table = (name: string, columns: Columns, primaryKey = ['id']): TableSchema => ({
  name,
  columns: columns.map(([n, nativeType]): ColumnSchema => ({ name: n, nativeType, nullable: !primaryKey.includes(n), hasDefault: false })),
  primaryKey,
});

/** A shop on PostgreSQL (old) and the same shop as MariaDB describes it (new), table by table. */
const SHOP: Array<{ name: string; pg: Columns; mysql: Columns; primaryKey?: string[] }> = [
  {
    name: 'customers',
    pg: [['id', 'bigint'], ['email', 'text'], ['name', 'character varying(100)'], ['created_at', 'timestamp(6) with time zone']],
    mysql: [['id', 'bigint(20)'], ['email', 'longtext'], ['name', 'varchar(100)'], ['created_at', 'datetime(6)']],
  },
  {
    name: 'orders',
    pg: [['id', 'bigint'], ['customer_id', 'bigint'], ['total', 'numeric(12,2)'], ['note', 'text'], ['placed_at', 'timestamp(6) without time zone']],
    mysql: [['id', 'bigint(20)'], ['customer_id', 'bigint(20)'], ['total', 'decimal(12,2)'], ['note', 'text'], ['placed_at', 'datetime(6)']],
  },
  {
    name: 'order_items',
    pg: [['order_id', 'bigint'], ['line_no', 'integer'], ['sku', 'character varying(40)'], ['qty', 'integer'], ['attrs', 'jsonb']],
    mysql: [['order_id', 'bigint(20)'], ['line_no', 'int(11)'], ['sku', 'varchar(40)'], ['qty', 'int(11)'], ['attrs', 'longtext']],
    primaryKey: ['order_id', 'line_no'],
  },
  {
    name: 'products',
    pg: [['id', 'bigint'], ['price', 'numeric'], ['weight', 'real'], ['sku', 'character varying(40)']],
    mysql: [['id', 'bigint(20)'], ['price', 'decimal(65,30)'], ['weight', 'float'], ['sku', 'varchar(40)']],
  },
  {
    name: 'shipments',
    pg: [['id', 'bigint'], ['shipped_on', 'date'], ['delivered_at', 'timestamp with time zone'], ['tracking', 'uuid']],
    mysql: [['id', 'bigint(20)'], ['shipped_on', 'date'], ['delivered_at', 'datetime(6)'], ['tracking', 'char(36)']],
  },
];

function check(fromEngine: EngineKind, toEngine: EngineKind): CheckItem[] {
  return SHOP.flatMap((t) => {
    const pg = table(t.name, t.pg, t.primaryKey);
    const mysql = table(t.name, t.mysql, t.primaryKey);
    return compareTableSchemas(
      t.name,
      { engine: fromEngine, table: fromEngine === 'postgres' ? pg : mysql },
      { engine: toEngine, table: toEngine === 'postgres' ? pg : mysql },
    );
  });
}

const limitWarnings = (items: CheckItem[]) => items.filter((i) => i.id === 'schema.type_mapping' && i.status === 'warn');

describe('tandem check on a PostgreSQL → MariaDB shop: columns that map with a limit', () => {
  const items = check('postgres', 'mysql');

  it('fails nothing and passes every table', () => {
    expect(items.filter((i) => i.status === 'fail')).toEqual([]);
    expect(items.filter((i) => i.id === 'schema.table').map((i) => i.title)).toEqual(SHOP.map((t) => `table ${t.name} matches`));
  });

  it('warns at most once per table, naming the table and its columns', () => {
    const warnings = limitWarnings(items);
    expect(warnings.map((w) => w.title)).toEqual([
      'table customers: 1 column(s) map with a limit (created_at)',
      'table orders: 3 column(s) map with a limit (total, note, placed_at)',
      'table products: 2 column(s) map with a limit (price, weight)',
      'table shipments: 2 column(s) map with a limit (shipped_on, delivered_at)',
    ]);
    for (const t of SHOP) expect(warnings.filter((w) => w.title.startsWith(`table ${t.name}:`)).length).toBeLessThanOrEqual(1);
  });

  it("keeps each column's limit and fix in columns", () => {
    const orders = limitWarnings(items).find((w) => w.title.startsWith('table orders:'));
    expect(orders?.columns?.map((c) => c.column)).toEqual(['total', 'note', 'placed_at']);
    const byColumn = new Map(orders?.columns?.map((c) => [c.column, c]));
    expect(byColumn.get('total')?.detail).toBe('old numeric(12,2) → new decimal(12,2): NaN and infinity have no mysql equivalent and will be refused at apply time');
    expect(byColumn.get('total')?.fix).toBe('new cannot store NaN or infinity: keep them out of old (fix any rows that hold them)');
    expect(byColumn.get('note')?.detail).toMatch(/^old text → new text: values longer than 65535 characters will be refused at apply time$/);
    expect(byColumn.get('note')?.fix).toBe('change the column on new to longtext if such values can occur');
    expect(byColumn.get('placed_at')?.detail).toMatch(/outside 1000-01-01\.\.9999-12-31 \(including infinity and BC dates\)/);
    expect(byColumn.get('placed_at')?.fix).toBe('new cannot store dates outside 1000-01-01..9999-12-31, infinity and BC dates: keep them out of old (fix any rows that hold them)');
  });

  it('does not tell the operator to widen a column that is already as wide as it gets', () => {
    const products = limitWarnings(items).find((w) => w.title.startsWith('table products:'));
    const price = products?.columns?.find((c) => c.column === 'price');
    expect(price?.detail).toMatch(/values outside decimal\(65,30\) and NaN\/infinity will be refused/);
    expect(price?.fix).toMatch(/^new cannot store values outside decimal\(65,30\), NaN or infinity: keep them out of old/);
  });

  it('prints one line per table and one fix line per distinct fix', () => {
    const text = renderReport({ ok: true, migration: 'shop', tables: SHOP.map((t) => t.name), summary: { pass: 0, warn: 0, fail: 0 }, checks: items });
    expect(text.match(/map with a limit/g)).toHaveLength(4);
    const lines = text.split('\n');
    const fixesOf = (tableName: string) => {
      const at = lines.findIndex((l) => l.includes(`table ${tableName}:`));
      const rest = lines.slice(at + 1);
      const end = rest.findIndex((l) => !l.startsWith('        fix'));
      return rest.slice(0, end === -1 ? rest.length : end);
    };
    expect(fixesOf('orders')).toEqual([
      '        fix (total): new cannot store NaN or infinity: keep them out of old (fix any rows that hold them)',
      '        fix (note): change the column on new to longtext if such values can occur',
      expect.stringMatching(/^ {8}fix \(placed_at\): new cannot store dates outside 1000-01-01\.\.9999-12-31/),
    ]);
    // Both of shipments' columns have the same fix: one line, for the whole table.
    expect(fixesOf('shipments')).toEqual([expect.stringMatching(/^ {8}fix: new cannot store dates outside 1000-01-01\.\.9999-12-31/)]);
  });
});

describe('tandem check on a MariaDB → PostgreSQL shop', () => {
  it('offers values.zeroDates or fixing the rows for zero dates, never widening a date', () => {
    const shipments = limitWarnings(check('mysql', 'postgres')).find((w) => w.title.startsWith('table shipments:'));
    const shippedOn = shipments?.columns?.find((c) => c.column === 'shipped_on');
    expect(shippedOn?.detail).toMatch(/zero dates \(0000-00-00\) have no postgres equivalent/);
    expect(shippedOn?.fix).toMatch(/values\.zeroDates: null/);
    expect(shippedOn?.fix).toMatch(/fix the rows on old/);
    expect(shippedOn?.fix).not.toMatch(/widen|change the column/);
  });
});
