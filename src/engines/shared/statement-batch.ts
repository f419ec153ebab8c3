import { TandemError, errorMessage } from '../../errors.js';
import { ropeJoin } from './rope.js';

/** The error for a change the shadow rejected, named by the tables it touched. */
export function applyFailed(tables: Iterable<string>, err: unknown, retriable: boolean): TandemError {
  return new TandemError('TANDEM_APPLY_FAILED', `applying changes to ${[...tables].join(', ')} on the shadow failed: ${errorMessage(err)}`, {
    retriable,
    fix: 'the shadow rejected a change: compare the table definitions (tandem check) and the row; Tandem resumes from its checkpoint when restarted',
    cause: err,
  });
}

/**
 * Collects SQL statements and sends them many per round trip, up to `maxChars` per trip: a stream of small
 * transactions would otherwise cost one network round trip per row change.
 */
export class StatementBatch {
  private statements: string[] = [];
  private chars = 0;
  private tables = new Set<string>();

  constructor(
    private readonly execute: (sql: string) => Promise<unknown>,
    private readonly maxChars: number,
    private readonly isTransient: (err: unknown) => boolean,
  ) {}

  async add(sql: string, tables: string[]): Promise<void> {
    this.statements.push(sql);
    this.chars += sql.length;
    for (const t of tables) this.tables.add(t);
    if (this.chars >= this.maxChars) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.statements.length === 0) return;
    await this.send([], () => false);
  }

  /**
   * Sends what is left followed by `after` (the lease guard, the checkpoint and COMMIT) in one round trip. An error
   * of those statements themselves (`ownError`) is thrown as the server gave it, for the engine's error mapping to
   * name (a lost lease); any other is the changes' error, named by their tables.
   */
  async finishWith(after: string[], ownError: (err: unknown) => boolean): Promise<void> {
    await this.send(after, ownError);
  }

  private async send(after: string[], ownError: (err: unknown) => boolean): Promise<void> {
    const sql = ropeJoin([...this.statements, ...after], ';\n');
    const tables = this.tables;
    this.statements = [];
    this.chars = 0;
    this.tables = new Set();
    try {
      await this.execute(sql);
    } catch (err) {
      if (tables.size === 0 || ownError(err)) throw err;
      throw applyFailed(tables, err, this.isTransient(err));
    }
  }
}
