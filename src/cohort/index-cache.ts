// Re-running ingest on the same work directory: when no file under the roots changed (same paths, sizes
// and modification times), the DICOM index of the previous run is reused instead of re-reading every
// header. Any change means a full re-index (simple and always correct).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeJsonAtomic } from "../core/index.ts";
import type { DicomIndex } from "../dicom/index.ts";

export const INDEX_CACHE_FILE = "dicom-index.json";
// 2: series split by SeriesNumber, echo and complex component; duplicate copies compared by pixels.
const VERSION = 2;

type Stamp = [path: string, size: number, mtimeMs: number];

interface CacheFile {
  version: number;
  roots: string[];
  stamps: Stamp[];
  index: Omit<DicomIndex, "patients">;
}

/** Paths, sizes and modification times of every file under the roots (links to files followed). */
export function stampFiles(roots: string[]): Stamp[] {
  const out: Stamp[] = [];
  const add = (p: string) => {
    try {
      const st = statSync(p);
      if (st.isFile()) out.push([p, st.size, st.mtimeMs]);
    } catch {
      out.push([p, -1, -1]);
    }
  };
  const walk = (dir: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      out.push([dir, -1, -1]);
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else add(p);
    }
  };
  for (const r of roots) {
    let isDir = false;
    try {
      isDir = statSync(r).isDirectory();
    } catch {
      out.push([r, -1, -1]);
      continue;
    }
    if (isDir) walk(r);
    else add(r);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function sameStamps(a: Stamp[], b: Stamp[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1] || a[i][2] !== b[i][2]) return false;
  }
  return true;
}

/** The previous run's index if nothing changed under the same roots, else undefined. */
export function loadIndexCache(workdir: string, roots: string[], stamps: Stamp[]): DicomIndex | undefined {
  let c: CacheFile;
  try {
    c = JSON.parse(readFileSync(join(workdir, INDEX_CACHE_FILE), "utf8")) as CacheFile;
  } catch {
    return undefined;
  }
  const abs = roots.map((r) => resolve(r)).sort();
  if (c.version !== VERSION || JSON.stringify(c.roots) !== JSON.stringify(abs)) return undefined;
  if (!sameStamps(c.stamps, stamps)) return undefined;
  return { ...c.index, patients: [] };
}

export function saveIndexCache(workdir: string, roots: string[], stamps: Stamp[], index: DicomIndex): void {
  const { patients: _patients, ...rest } = index;
  const c: CacheFile = { version: VERSION, roots: roots.map((r) => resolve(r)).sort(), stamps, index: rest };
  writeJsonAtomic(join(workdir, INDEX_CACHE_FILE), c);
}
