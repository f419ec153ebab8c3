import type { Logger } from 'pino';
import { TandemError } from '../errors.js';
import type { ShadowWriter } from '../engines/engine.js';
import { uncarriedColumns } from '../model/column-names.js';

type ShadowColumns = Pick<ShadowWriter, 'reloadSchema' | 'columnsOf'>;

/**
 * Stops replication, naming the table and columns, when the active side's table no longer matches the shadow's
 * (H9): a column the shadow lacks would otherwise be dropped silently. The shadow's definition is read again
 * first, so an operator who applied the same change on the shadow and restarted continues without losing anything.
 */
export class SchemaGuard {
  constructor(
    private readonly shadow: ShadowColumns,
    private readonly log: Logger,
  ) {}

  private missing(table: string, columns: string[]): string[] {
    const have = new Set(this.shadow.columnsOf(table) ?? []);
    return columns.filter((c) => !have.has(c));
  }

  /**
   * A column no row can carry (uncarriedColumns), added or renamed into while replicating: checked first, because an
   * operator who gave the shadow the same column would otherwise pass the check below and lose every value of it.
   */
  private refuseUncarried(table: string, columns: string[], checkpoint: string): void {
    const uncarried = uncarriedColumns(columns.map((name) => ({ name })));
    if (uncarried.length === 0) return;
    throw new TandemError(
      'TANDEM_CAPTURE_DDL',
      `table ${table} on the active side now has a column named ${uncarried.join(', ')}, which Tandem cannot carry: its values would be lost; replication paused at checkpoint ${checkpoint}`,
      {
        fix: `rename the column on the active side and on the shadow; start tandem run once with ${table} left out (tandem.yaml exclude: [${table}]) so replication passes the changes written under that name; then remove the exclusion: verification reports the rows those changes touched as drift, and tandem repair --table ${table} copies them`,
      },
    );
  }

  /** The source's column list for a table (sent before its first change and after DDL). */
  async onRelation(table: string, columns: string[], checkpoint: string): Promise<void> {
    this.refuseUncarried(table, columns, checkpoint);
    if (this.missing(table, columns).length === 0) return;
    await this.shadow.reloadSchema([table]);
    const still = this.missing(table, columns);
    if (still.length === 0) return;
    throw new TandemError(
      'TANDEM_CAPTURE_DDL',
      `table ${table} on the active side now has column(s) ${still.join(', ')} that the shadow lacks (a column was added or renamed on the source); replication paused at checkpoint ${checkpoint}`,
      { fix: `apply the same ALTER TABLE to ${table} on the shadow, then start tandem run again: it resumes from the checkpoint and nothing is lost` },
    );
  }

  /**
   * A DDL statement on the active side (MySQL): `columns` are the table's columns after it (empty when the table is
   * gone). The caller has committed everything before the statement, so the checkpoint sits exactly before it.
   * Replication continues only if the shadow's columns already match.
   */
  async onDdl(table: string, columns: string[], ddl: string, checkpoint: string): Promise<void> {
    this.refuseUncarried(table, columns, checkpoint);
    await this.shadow.reloadSchema([table]);
    const have = this.shadow.columnsOf(table) ?? [];
    const missing = columns.filter((c) => !have.includes(c));
    const extra = have.filter((c) => !columns.includes(c));
    if (columns.length > 0 && missing.length === 0 && extra.length === 0) {
      this.log.info({ table, ddl }, 'DDL on the active side already matches the shadow; continuing');
      return;
    }
    const statement = ddl.length > 300 ? `${ddl.slice(0, 300)}…` : ddl;
    if (columns.length === 0) {
      throw new TandemError('TANDEM_CAPTURE_DDL', `table ${table} was dropped or renamed on the active side by \`${statement}\`; replication paused at checkpoint ${checkpoint}, before the statement`, {
        fix: `leave ${table} out of the migration (tandem.yaml exclude: [${table}]) and start again: replication continues past the statement and the shadow keeps the rows it has; or recreate ${table} on the active side with the same columns`,
      });
    }
    const diff = [missing.length ? `the shadow lacks ${missing.join(', ')}` : '', extra.length ? `the shadow still has ${extra.join(', ')}` : ''].filter(Boolean).join('; ');
    throw new TandemError('TANDEM_CAPTURE_DDL', `table ${table} changed on the active side: \`${statement}\` (${diff}); replication paused at checkpoint ${checkpoint}, before the statement`, {
      fix: `apply the same change to ${table} on the shadow, then start tandem run again: it resumes from the checkpoint, continues past the statement once the columns match, and nothing is lost`,
    });
  }
}
