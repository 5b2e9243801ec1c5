/** Rows as plain-text columns, two spaces apart; the last column is not padded. */
export function textTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r) => r.map((x, c) => (c === r.length - 1 ? x : (x ?? "").padEnd(widths[c]))).join("  "))
    .join("\n");
}
