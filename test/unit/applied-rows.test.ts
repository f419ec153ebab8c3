import { describe, expect, it } from 'vitest';
import { countAppliedRows } from '../../src/replicate/stats.js';
import type { Change } from '../../src/model/change.js';

describe('applied rows by table and operation (tandem_applied_rows_total)', () => {
  it('counts every change, runs and interleavings alike, and adds to what is there', () => {
    const counts: Record<string, number> = { 'forward\torders\tinsert': 5 };
    const ins = (table: string): Change => ({ op: 'insert', table, after: { id: '1' } });
    const changes: Change[] = [
      ins('orders'),
      ins('orders'),
      ins('lines'),
      { op: 'update', table: 'orders', before: { id: '1' }, after: { id: '1' } },
      ins('orders'),
      { op: 'truncate', tables: ['lines', 'stock'] },
      { op: 'delete', table: 'lines', before: { id: '1' } },
      { op: 'delete', table: 'lines', before: { id: '2' } },
    ];
    countAppliedRows(counts, 'forward', changes);
    countAppliedRows(counts, 'forward', []);
    countAppliedRows(counts, 'forward', [ins('orders')]);
    expect(counts).toEqual({
      'forward\torders\tinsert': 5 + 3 + 1,
      'forward\tlines\tinsert': 1,
      'forward\torders\tupdate': 1,
      'forward\tlines\ttruncate': 1,
      'forward\tstock\ttruncate': 1,
      'forward\tlines\tdelete': 2,
    });
  });
});
