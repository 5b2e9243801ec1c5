// The one error type for a DICOM file that cannot be used: a stable code, a sentence a user understands,
// and (where known) the file and the field. Part of the LiverstiffError family, so describeError keeps them.
import { LiverstiffError } from "../core/index.ts";
import type { FileIssueCode } from "./types.ts";

export class DicomFileError extends LiverstiffError {
  readonly code: FileIssueCode;
  readonly field?: string;
  constructor(
    code: FileIssueCode,
    reason: string,
    where: { file?: string; field?: string } = {},
    options?: { cause?: unknown },
  ) {
    const context: Record<string, string> = { code };
    if (where.file) context.file = where.file;
    if (where.field) context.field = where.field;
    super(reason, context, options);
    this.name = "DicomFileError";
    this.code = code;
    if (where.field) this.field = where.field;
  }

  /** The same error, naming the file (kept when already named). */
  inFile(file: string): DicomFileError {
    if (this.context.file) return this;
    return new DicomFileError(this.code, this.message, { file, field: this.field }, { cause: this.cause });
  }
}
