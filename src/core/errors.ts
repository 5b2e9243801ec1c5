/**
 * An error about the user's input or configuration, naming what was wrong (a file, an exam, a field),
 * so that the CLI can print it without a stack trace and carry on with the rest of the run.
 */
export class LiverstiffError extends Error {
  readonly context: Readonly<Record<string, string | number>>;

  constructor(message: string, context: Record<string, string | number> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LiverstiffError";
    this.context = context;
  }
}

/** One line for a report or an exclusion list: the message plus the named context. */
export function describeError(err: unknown): string {
  if (err instanceof LiverstiffError) {
    const ctx = Object.entries(err.context)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ");
    return ctx ? `${err.message} (${ctx})` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
