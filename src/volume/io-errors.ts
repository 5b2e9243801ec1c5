// A failed write of an output (disk full, no permission, read-only file system) is a problem of the
// output folder, not of the images: it stops the run with one line naming the path, and is never
// recorded as a bad series or exam.
import { resolve, sep } from "node:path";
import { LiverstiffError } from "../core/index.ts";

const WORDS: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  EIO: "input/output error",
  EFBIG: "file too large for the file system",
};

/** An output could not be written; `path` is the file (or folder) that was being written. */
export class OutputWriteError extends LiverstiffError {
  readonly code: string;
  readonly path: string;
  constructor(path: string, code: string, options?: { cause?: unknown }) {
    super(`cannot write ${path}: ${WORDS[code] ?? code} (${code})`, { path, code }, options);
    this.name = "OutputWriteError";
    this.code = code;
    this.path = path;
  }
}

// These come only from writing; EACCES, EPERM and EIO can come from reading an input too.
const WRITE_ONLY = new Set(["ENOSPC", "EDQUOT", "EROFS", "EFBIG"]);

/**
 * The output-write error in `err`, if it is one: a Node errno error with one of the codes above, or such
 * an error's message passed on as text (from a worker). `path` names the target when the error does not.
 * With `outputRoot`, a permission or I/O error counts only for a path inside that folder (elsewhere it may
 * be an input that cannot be read).
 */
export function asOutputWriteError(
  err: unknown,
  path?: string,
  outputRoot?: string,
): OutputWriteError | undefined {
  if (err instanceof OutputWriteError) return err;
  // Coded errors about inputs (a DICOM file that cannot be read) are never output errors.
  if (err instanceof LiverstiffError) return undefined;
  const e = err as { code?: unknown; path?: unknown; message?: unknown } | undefined;
  let code = typeof e?.code === "string" ? e.code : undefined;
  let where = typeof e?.path === "string" ? e.path : undefined;
  if (!code || !(code in WORDS)) {
    // Node's errno text, as a worker passes it on: "ENOSPC: no space left on device, write '/out/x'".
    const text = typeof err === "string" ? err : typeof e?.message === "string" ? e.message : "";
    const m = /^(E[A-Z]+): [^,]*, \w+(?: '([^']+)')?/.exec(text);
    if (!m || !(m[1]! in WORDS)) return undefined;
    code = m[1]!;
    where ??= m[2];
  }
  const target = path ?? stripTemp(where) ?? "(output)";
  if (outputRoot !== undefined && !WRITE_ONLY.has(code)) {
    const root = resolve(outputRoot);
    const at = resolve(target);
    if (at !== root && !at.startsWith(root + sep)) return undefined;
  }
  return new OutputWriteError(target, code, { cause: err });
}

// Atomic writes go through ".NAME.PID.HEX.tmp" siblings; name the file the user asked for.
function stripTemp(p: string | undefined): string | undefined {
  return p?.replace(/\/\.([^/]+)\.\d+\.[0-9a-f]+\.tmp$/, "/$1");
}
