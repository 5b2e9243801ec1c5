// One CSV cell, quoted when needed (RFC 4180) and neutralised against formula injection (OWASP "CSV
// Injection"): a text cell that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR)
// gets a leading apostrophe. Numbers, and text that is a plain number ("-1.25", "+3e-2"), stay numeric.

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: string | number | undefined | null): string {
  if (value === undefined || value === null) return "";
  let s = String(value);
  if (typeof value !== "number" && FORMULA_START.test(s) && !NUMBER.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
