// A folder lock: WORK or RUN/.liverstiff.lock holds the holder's pid, host, command and start time. It is
// created atomically (written to a temporary file, then hard-linked into place, which fails if a lock is
// there), so two processes never both hold it and a reader never sees half a lock. A lock left by a
// process that died (same host, pid gone) is taken over; one held by a live process, or on another host
// (whose pids cannot be checked), refuses with who holds it.
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { LiverstiffError } from "./errors.ts";

export const LOCK_FILE = ".liverstiff.lock";

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
  /** Random, to tell this lock from a later one of the same pid. */
  token: string;
}

export interface FolderLock {
  path: string;
  holder: LockHolder;
  release(): void;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as LockHolder;
    return typeof h.pid === "number" && typeof h.host === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryCreate(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.${holder.pid}.${holder.token}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(holder)}\n`);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Takes the lock of `dir` for `command`, or throws a LiverstiffError naming the process that holds it. */
export function acquireLock(dir: string, command: string): FolderLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString("hex"),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(path, holder)) return held(path, holder);
    const other = readHolder(path);
    if (other && other.host === holder.host && other.pid === holder.pid)
      return { path, holder: other, release() {} }; // this process already holds it
    const stale = other === undefined || (other.host === holder.host && !alive(other.pid));
    if (!stale)
      throw new LiverstiffError(
        `the folder is in use by liverstiff ${other.command} (pid ${other.pid} on ${other.host}, since ${other.startedAt}); wait for it to finish, or delete ${LOCK_FILE} if that process is gone`,
        { folder: dir, lock: path },
      );
    // Move the stale lock aside (atomic: one taker wins), check it was the one judged stale, retry.
    const aside = `${path}.stale.${holder.token}`;
    try {
      renameSync(path, aside);
    } catch {
      continue;
    }
    const moved = readHolder(aside);
    if (moved && other && moved.token !== other.token) {
      // A live lock was created in between: put it back (unless yet another took its place).
      try {
        linkSync(aside, path);
      } catch {}
    }
    rmSync(aside, { force: true });
  }
  throw new LiverstiffError("cannot take the folder lock (it keeps changing hands)", {
    folder: dir,
    lock: path,
  });
}

function held(path: string, holder: LockHolder): FolderLock {
  const release = () => {
    process.removeListener("exit", release);
    if (readHolder(path)?.token === holder.token) rmSync(path, { force: true });
  };
  process.on("exit", release);
  return { path, holder, release };
}
