// Uploads: a zip of DICOM files, or multipart/form-data with DICOM files (a folder picked in the web app)
// and/or zips. The files are written flat into a staging folder under names of our own (000001.dcm, ...),
// so no name in an upload ever becomes a path; names are still checked, and an upload that names a parent
// folder (`../`) or an absolute path is refused whole, as an attempt at path traversal. Limits on the
// bytes, the number of files and the unzipped size hold for every upload.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { LiverstiffError } from "../core/index.ts";

export interface UploadLimits {
  /** The most bytes a request body may have. */
  maxUploadBytes: number;
  /** The most files an upload may hold (zip entries included). */
  maxFiles: number;
  /** The most bytes the files of an upload may have once unzipped. */
  maxUnzippedBytes: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxUploadBytes: 2 * 1024 ** 3,
  maxFiles: 20_000,
  maxUnzippedBytes: 4 * 1024 ** 3,
};

/** An upload refused: the HTTP status to answer with, and one line saying why. */
export class UploadError extends LiverstiffError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const isZip = (b: Uint8Array) => ZIP_MAGIC.every((x, i) => b[i] === x);

/** Refuses a name with a parent-folder segment, an absolute path, a drive letter or a NUL. */
export function checkEntryName(name: string): void {
  const bad =
    name.includes("\0") ||
    /^[/\\]/.test(name) ||
    /^[A-Za-z]:/.test(name) ||
    name.split(/[/\\]/).some((segment) => segment === "..");
  if (bad)
    throw new UploadError(
      400,
      `refused: the upload names a path outside its own folder (${JSON.stringify(name.slice(0, 200))}); nothing was stored`,
    );
}

/** Writes an upload's files into a staging folder, counting files and bytes against the limits. */
class StagingWriter {
  files = 0;
  bytes = 0;
  constructor(
    readonly dir: string,
    readonly limits: UploadLimits,
  ) {}

  count(size: number): void {
    this.files++;
    this.bytes += size;
    if (this.files > this.limits.maxFiles)
      throw new UploadError(413, `refused: the upload holds more than ${this.limits.maxFiles} files`);
    if (this.bytes > this.limits.maxUnzippedBytes)
      throw new UploadError(
        413,
        `refused: the upload's files exceed ${this.limits.maxUnzippedBytes} bytes unzipped`,
      );
  }

  write(data: Uint8Array): void {
    writeFileSync(join(this.dir, `${String(this.files).padStart(6, "0")}.dcm`), data);
  }

  add(name: string, data: Uint8Array): void {
    checkEntryName(name);
    if (isZip(data)) {
      this.addZip(data);
      return;
    }
    this.count(data.length);
    this.write(data);
  }

  addZip(zip: Uint8Array): void {
    let entries: Record<string, Uint8Array>;
    try {
      // The filter sees every entry's name and declared size before anything is inflated.
      entries = unzipSync(zip, {
        filter: (file) => {
          checkEntryName(file.name);
          if (file.name.endsWith("/") || file.name.startsWith("__MACOSX/")) return false;
          this.count(file.originalSize);
          return true;
        },
      });
    } catch (err) {
      if (err instanceof UploadError) throw err;
      throw new UploadError(400, `refused: the zip cannot be read (${(err as Error).message})`);
    }
    let k = 0;
    for (const data of Object.values(entries)) {
      if (data.length > this.limits.maxUnzippedBytes)
        throw new UploadError(413, "refused: a zip entry is larger than it declared");
      writeFileSync(join(this.dir, `z${String(++k).padStart(6, "0")}.dcm`), data);
    }
  }
}

/** The request's media type without parameters, lower case. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Stores an upload's files into `dir`: a zip body (application/zip, or any body starting as a zip does),
 * or a multipart/form-data body whose file fields are DICOM files or zips. Returns the number of files.
 */
export async function stageUpload(
  body: Uint8Array,
  contentType: string | undefined,
  dir: string,
  limits: UploadLimits,
): Promise<number> {
  const writer = new StagingWriter(dir, limits);
  const type = mediaType(contentType);
  if (type === "multipart/form-data") {
    let form: FormData;
    try {
      form = await new Request("http://upload.invalid/", {
        method: "POST",
        headers: { "content-type": contentType! },
        body,
      }).formData();
    } catch (err) {
      throw new UploadError(400, `refused: the multipart body cannot be parsed (${(err as Error).message})`);
    }
    for (const value of form.values()) {
      if (typeof value === "string") continue;
      const data = new Uint8Array(await value.arrayBuffer());
      if (data.length === 0 && value.name === "") continue; // an empty file field
      writer.add(value.name, data);
    }
  } else if (type === "application/zip" || type === "application/x-zip-compressed" || isZip(body)) {
    writer.addZip(body);
  } else if (type === "application/dicom") {
    writer.add("upload.dcm", body);
  } else {
    throw new UploadError(
      415,
      `refused: send a zip (application/zip), multipart/form-data with DICOM files, or one application/dicom file, not ${type || "a body without Content-Type"}`,
    );
  }
  if (writer.files === 0) throw new UploadError(400, "refused: the upload holds no files");
  return writer.files;
}
