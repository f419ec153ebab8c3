/**
 * Columns a row cannot carry. Rows are plain objects keyed by column name, and `__proto__` is the one key whose
 * assignment sets the object's prototype instead of a property: the column's value would be lost without a word
 * wherever a row is built as an object (capture's rows, the drivers' result rows). Such a table is refused, with the
 * fix, rather than copied wrong.
 */
export function uncarriedColumns(columns: readonly { name: string }[]): string[] {
  return columns.filter((c) => c.name === '__proto__').map((c) => c.name);
}

/** Why a table with such columns is refused, and what to do: for refusals, pending tables and `tandem check`. */
export function uncarriedColumnsProblem(table: string, columns: string[], quote: (name: string) => string): { reason: string; fix: string } {
  return {
    reason: `${table} has a column named ${columns.join(', ')}, which Tandem cannot carry: its value would be lost`,
    fix: `rename it (ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(columns[0] as string)} TO …), or exclude the table in tandem.yaml: exclude: [${table}]`,
  };
}
