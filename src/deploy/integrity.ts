// A bundle's integrity: one digest over every field of bundle.json and every file of the folder, and an
// optional Ed25519 signature of that digest.
//
//   digest = sha256(canonical JSON of bundle.json without its "integrity" field)
//
// bundle.json's "files" lists the sha256 of every file in the folder, so the one digest covers the weights
// too. "integrity.fields" holds a digest per field (top level and one level down: "cutoffs.values",
// "recipe.head") only so that a refusal can name what was edited; the check itself is the one digest. An
// unsigned digest catches edits by hand and damage; only a signature checked against a trusted public key
// (`predict --trust`) stops someone who recomputes the digest.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describeError, LiverstiffError } from "../core/index.ts";

export interface BundleSignature {
  algorithm: "ed25519";
  /** sha256 of the signer's public key (DER SubjectPublicKeyInfo), to say which key signed. */
  publicKeySha256: string;
  /** base64 Ed25519 signature of the digest's 32 bytes. */
  value: string;
}

export interface BundleIntegrity {
  algorithm: "sha256-canonical-json";
  digest: string;
  /** Digest per field path, to name an edited field in a refusal (not itself a check). */
  fields: Record<string, string>;
  signature?: BundleSignature;
}

/** JSON with object keys sorted at every depth, no spaces: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Digest of each top-level field and of each key of a top-level object ("recipe.head"). */
export function fieldDigests(content: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(content)) {
    if (v === undefined) continue;
    out[k] = sha256(canonicalJson(v));
    if (isPlainObject(v))
      for (const [k2, v2] of Object.entries(v))
        if (v2 !== undefined) out[`${k}.${k2}`] = sha256(canonicalJson(v2));
  }
  return out;
}

function withoutIntegrity(manifest: Record<string, unknown>): Record<string, unknown> {
  const { integrity: _ignored, ...content } = manifest;
  return content;
}

export function bundleDigest(manifest: Record<string, unknown>): string {
  return sha256(canonicalJson(withoutIntegrity(manifest)));
}

function publicKeySha256(key: KeyObject): string {
  return sha256(key.export({ type: "spki", format: "der" }));
}

export function readBundleKey(file: string, kind: "private" | "public"): KeyObject {
  let key: KeyObject;
  try {
    const pem = readFileSync(file);
    key = kind === "private" ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (err) {
    throw new LiverstiffError(`cannot read the ${kind} key (a PEM Ed25519 key): ${describeError(err)}`, {
      key: file,
    });
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new LiverstiffError(
      `the ${kind} key is ${key.asymmetricKeyType ?? "not asymmetric"}, not Ed25519`,
      {
        key: file,
      },
    );
  return key;
}

/** The integrity block for a complete manifest (its "files" included), signed when a key file is given. */
export function sealManifest(manifest: Record<string, unknown>, signKeyFile?: string): BundleIntegrity {
  const content = withoutIntegrity(manifest);
  const digest = bundleDigest(content);
  const integrity: BundleIntegrity = {
    algorithm: "sha256-canonical-json",
    digest,
    fields: fieldDigests(content),
  };
  if (signKeyFile) {
    const key = readBundleKey(signKeyFile, "private");
    integrity.signature = {
      algorithm: "ed25519",
      publicKeySha256: publicKeySha256(createPublicKey(key)),
      value: sign(null, Buffer.from(digest, "hex"), key).toString("base64"),
    };
  }
  return integrity;
}

/** Every file under the bundle folder but bundle.json, as relative paths with "/" separators. */
export function bundleFiles(dir: string, manifestName: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join("/"));
    }
  };
  walk(dir);
  return out.filter((f) => f !== manifestName).sort();
}

export function fileDigests(dir: string, files: readonly string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, sha256(readFileSync(join(dir, f)))]));
}

/** The deepest field paths whose digest differs (or that appeared or went), for the refusal. */
function changedFields(recorded: Record<string, string>, now: Record<string, string>): string[] {
  const paths = [...new Set([...Object.keys(recorded), ...Object.keys(now)])];
  const changed = paths.filter((p) => recorded[p] !== now[p]);
  const deepest = changed.filter((p) => !changed.some((q) => q.startsWith(`${p}.`)));
  return deepest.map((p) =>
    recorded[p] === undefined ? `${p} (added)` : now[p] === undefined ? `${p} (removed)` : p,
  );
}

/**
 * Refuses a bundle whose files or fields differ from those it was written with, naming the file or the
 * field; with `trustKeyFile`, also one not signed by that key.
 */
export function checkIntegrity(
  dir: string,
  manifest: Record<string, unknown>,
  manifestName: string,
  trustKeyFile?: string,
): void {
  const refuse = (what: string, ctx: Record<string, string> = {}) =>
    new LiverstiffError(`model bundle refused: ${what}`, { bundle: dir, ...ctx });
  const integrity = manifest.integrity as BundleIntegrity | undefined;
  const files = manifest.files as Record<string, string> | undefined;
  if (!isPlainObject(integrity) || typeof integrity.digest !== "string" || !isPlainObject(files))
    throw refuse(`${manifestName} has no integrity digest or file list (re-train the bundle)`);
  const present = bundleFiles(dir, manifestName);
  for (const f of Object.keys(files))
    if (!existsSync(join(dir, f))) throw refuse("a file the bundle lists is missing", { file: f });
  for (const f of present)
    if (files[f] === undefined) throw refuse("a file the bundle does not list was added", { file: f });
  const now = fileDigests(dir, present);
  for (const f of present)
    if (now[f] !== files[f])
      throw refuse("a file does not match its sha256 in bundle.json (truncated or modified)", { file: f });
  const content = withoutIntegrity(manifest);
  if (bundleDigest(content) !== integrity.digest) {
    const changed = changedFields(integrity.fields ?? {}, fieldDigests(content));
    throw refuse(
      changed.length > 0
        ? `${manifestName} was edited after it was written: ${changed.join(", ")} changed`
        : `${manifestName} does not match its integrity digest`,
      changed.length > 0 ? { field: changed.join(" ") } : {},
    );
  }
  if (trustKeyFile === undefined) return;
  const trusted = readBundleKey(trustKeyFile, "public");
  const s = integrity.signature;
  if (!s)
    throw refuse("the bundle is not signed, and --trust asks for a signed bundle", { key: trustKeyFile });
  const fingerprint = publicKeySha256(trusted);
  if (s.publicKeySha256 !== fingerprint)
    throw refuse(
      `the bundle was signed by another key (sha256 ${String(s.publicKeySha256).slice(0, 16)}, trusted ${fingerprint.slice(0, 16)})`,
      { key: trustKeyFile },
    );
  let valid = false;
  try {
    valid = verify(
      null,
      Buffer.from(integrity.digest, "hex"),
      trusted,
      Buffer.from(String(s.value), "base64"),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw refuse("the signature does not verify with the trusted key", { key: trustKeyFile });
}
