// A small DICOMweb client (PS3.18) on Node's fetch: QIDO-RS searches (application/dicom+json), WADO-RS
// retrieval of a series as multipart/related application/dicom, STOW-RS of Part-10 files into a study.
// It talks only to the root URL the user gives (e.g. Orthanc's http://127.0.0.1:8042/dicom-web).
import { randomBytes } from "node:crypto";
import { LiverstiffError } from "../core/index.ts";

/** One data set in the DICOM JSON model: tag (8 hex digits) → { vr, Value }. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

export const TAG = {
  studyInstanceUid: "0020000D",
  seriesInstanceUid: "0020000E",
  accessionNumber: "00080050",
  modality: "00080060",
  studyDate: "00080020",
  modalitiesInStudy: "00080061",
  studyInstances: "00201208",
  seriesInstances: "00201209",
  failedSopSequence: "00081198",
  referencedSopSequence: "00081199",
  failureReason: "00081197",
} as const;

/** The first value of a tag as a string, or undefined. */
export function jsonString(ds: DicomJson, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  return v === undefined || v === null ? undefined : String(v);
}

export function jsonNumber(ds: DicomJson, tag: string): number | undefined {
  const v = ds[tag]?.Value?.[0];
  return typeof v === "number" ? v : v === undefined ? undefined : Number(v);
}

/** The boundary parameter of a multipart Content-Type. */
export function multipartBoundary(contentType: string | null): string {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary)
    throw new LiverstiffError("the DICOMweb answer is not multipart (no boundary)", {
      contentType: contentType ?? "",
    });
  return boundary;
}

/** The bodies of a multipart/related message. */
export function multipartParts(body: Buffer, boundary: string): Buffer[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    let start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break; // the close delimiter
    const headersEnd = body.indexOf("\r\n\r\n", start);
    if (headersEnd < 0) break;
    start = headersEnd + 4;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // The CRLF before the next delimiter belongs to the delimiter.
    const end = body[next - 2] === 0x0d && body[next - 1] === 0x0a ? next - 2 : next;
    parts.push(body.subarray(start, end));
    at = next;
  }
  return parts;
}

export interface DicomWebOptions {
  /** Seconds before a request is abandoned. */
  timeoutSeconds?: number;
}

export class DicomWebClient {
  readonly root: string;
  private readonly timeoutMs: number;

  constructor(root: string, options: DicomWebOptions = {}) {
    let url: URL;
    try {
      url = new URL(root);
    } catch {
      throw new LiverstiffError("the PACS address is not a URL", { pacs: root });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new LiverstiffError("the PACS address must be an http or https DICOMweb root", { pacs: root });
    this.root = url.href.replace(/\/+$/, "");
    this.timeoutMs = (options.timeoutSeconds ?? 300) * 1000;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    const url = `${this.root}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new LiverstiffError(
        `the PACS cannot be reached: ${(err as Error).cause ?? (err as Error).message}`,
        {
          pacs: this.root,
        },
      );
    }
    if (!res.ok && res.status !== 204) {
      const text = (await res.text().catch(() => "")).slice(0, 200);
      throw new LiverstiffError(
        `the PACS answered ${res.status} ${res.statusText}${text ? `: ${text}` : ""}`,
        {
          pacs: this.root,
          path: path.split("?")[0]!,
        },
      );
    }
    return res;
  }

  private async search(path: string, query: Record<string, string | string[]>): Promise<DicomJson[]> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query))
      for (const x of Array.isArray(v) ? v : [v]) params.append(k, x);
    const res = await this.request(`${path}?${params}`, { headers: { Accept: "application/dicom+json" } });
    if (res.status === 204) return [];
    const body = (await res.json()) as unknown;
    if (!Array.isArray(body)) throw new LiverstiffError("the PACS's QIDO-RS answer is not a JSON array");
    return body as DicomJson[];
  }

  /** QIDO-RS: studies with an MR series (optionally from a StudyDate on). */
  searchMrStudies(options: { fromDate?: string; limit?: number } = {}): Promise<DicomJson[]> {
    return this.search("/studies", {
      ModalitiesInStudy: "MR",
      includefield: [TAG.accessionNumber, TAG.studyDate, TAG.studyInstances, TAG.modalitiesInStudy],
      ...(options.fromDate ? { StudyDate: `${options.fromDate}-` } : {}),
      ...(options.limit ? { limit: String(options.limit) } : {}),
    });
  }

  /** QIDO-RS: a study's series of one modality, with their instance counts. */
  searchSeries(studyInstanceUid: string, modality: string): Promise<DicomJson[]> {
    return this.search(`/studies/${encodeURIComponent(studyInstanceUid)}/series`, {
      Modality: modality,
      includefield: [TAG.seriesInstances],
    });
  }

  /** WADO-RS: the series' instances as Part-10 files, each given to `onInstance`; returns their number. */
  async retrieveSeries(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    onInstance: (part10: Uint8Array) => void,
  ): Promise<number> {
    const res = await this.request(
      `/studies/${encodeURIComponent(studyInstanceUid)}/series/${encodeURIComponent(seriesInstanceUid)}`,
      { headers: { Accept: 'multipart/related; type="application/dicom"' } },
    );
    const boundary = multipartBoundary(res.headers.get("content-type"));
    const parts = multipartParts(Buffer.from(await res.arrayBuffer()), boundary);
    for (const p of parts) onInstance(p);
    return parts.length;
  }

  /** STOW-RS: stores Part-10 files into the study; throws when the PACS refuses any of them. */
  async store(studyInstanceUid: string, files: readonly Uint8Array[]): Promise<number> {
    const boundary = `liverstiff-${randomBytes(12).toString("hex")}`;
    const chunks: Buffer[] = [];
    for (const f of files) {
      chunks.push(
        Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        Buffer.from(f),
        Buffer.from("\r\n"),
      );
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    const res = await this.request(`/studies/${encodeURIComponent(studyInstanceUid)}`, {
      method: "POST",
      headers: {
        "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: "application/dicom+json",
      },
      body: Buffer.concat(chunks),
    });
    const text = await res.text();
    let answer: DicomJson | undefined;
    try {
      answer = text ? (JSON.parse(text) as DicomJson) : undefined;
    } catch {
      answer = undefined;
    }
    const failed = (answer?.[TAG.failedSopSequence]?.Value ?? []) as DicomJson[];
    if (failed.length > 0) {
      const reasons = failed.map((f) => jsonString(f, TAG.failureReason) ?? "?").join(", ");
      throw new LiverstiffError(
        `the PACS refused ${failed.length} of ${files.length} files (failure reasons ${reasons})`,
      );
    }
    return ((answer?.[TAG.referencedSopSequence]?.Value ?? []) as unknown[]).length || files.length;
  }
}
