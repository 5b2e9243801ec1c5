// A model bundle: one folder that holds everything a site needs to run a validated recipe on new exams.
//
//   BUNDLE/bundle.json              what the bundle is (format + version), recipe, preparation, encoder
//                                   identity, cut-offs, validation figures, training-set summary, members
//   BUNDLE/models/fold-01.safetensors ... one trained head per cv10 fold (train/'s own model files)
//
// bundle.json lists every file with its sha256 and carries one digest over all its fields and those files
// (integrity.ts), optionally signed with Ed25519: an edited field or file is refused, naming it, before any
// weight is read. The format is versioned: a bundle of another format version is refused with a message
// saying which version this code reads.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { PrepConfig } from "../cohort/index.ts";
import { describeError, LiverstiffError, writeFileAtomic, writeJsonAtomic } from "../core/index.ts";
import type { SeriesChoiceRecord, SeriesRole } from "../dicom/index.ts";
import { createEncoder, type Encoder, type EncoderIdentity } from "../features/index.ts";
import { loadTrainedModel, type Recipe, type TrainedModel } from "../train/index.ts";
import { type BundleIntegrity, bundleFiles, checkIntegrity, fileDigests, sealManifest } from "./integrity.ts";
import type { TrainingSetSummary } from "./summary.ts";

export const BUNDLE_FORMAT = "liverstiff-bundle";
/** Bumped when bundle.json or the member files change in a way older code cannot read. */
export const BUNDLE_FORMAT_VERSION = 3;
export const BUNDLE_MANIFEST = "bundle.json";

export type Five = [number, number, number, number, number];

export interface BundleMember {
  /** The cv10 fold the member was trained in (its test part was held out of its training). */
  fold: string;
  /** Path relative to the bundle folder. */
  file: string;
  sha256: string;
  nTrain: number;
  nVal: number;
  nTest: number;
  /** The fold's own Youden cut-offs, chosen on its inner validation part (as in validation). */
  cutoffs: Five;
}

export interface KpaError {
  method: string;
  /** The share of out-of-fold exams whose measured kPa fell inside the interval (0.8 by construction). */
  coverage: number;
  n: number;
  /** Quantiles of log(measured / predicted kPa): the interval is [kPa * exp(lo), kPa * exp(hi)]. */
  logRatioQuantiles: [number, number];
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  createdAt: string;
  /** The liverstiff version (and git commit) that wrote the bundle. */
  codeVersion: { version: string; commit?: string };
  /** Where the members were trained (`--device`); a bundle runs on any device. */
  trainedOn: { device: string; libtorchCuda: boolean };
  /** The resolved recipe the members were trained with (its encoder name resolved). */
  recipe: Recipe;
  /** The preparation (fully resolved) and its name; predict prepares new exams exactly so. */
  preparation: PrepConfig;
  prepName: string;
  /** The encoder that turned prepared slices into features, with its weights' sha256. */
  encoder: EncoderIdentity;
  thresholdsKpa: number[];
  /**
   * The cut-off per threshold applied to the ensemble's probability: Youden on the pooled out-of-fold
   * cv10 predictions (each exam scored by the fold model that did not see it). See docs/deploy.md.
   */
  cutoffs: { method: string; values: Five };
  /**
   * The kPa head's cross-validated error, for recipes that regress kPa (null otherwise): the 10% and 90%
   * quantiles of log(measured / predicted kPa) over the pooled out-of-fold cv10 predictions. predict turns
   * them into the predicted kPa's 80% prediction interval.
   */
  kpaError: KpaError | null;
  /** The ensemble: one model per cv10 fold; probabilities are averaged, their spread is the interval. */
  members: BundleMember[];
  /** The recipe's cv10 figures from the run that trained the members (pooled out-of-fold). */
  validation: {
    scheme: "cv10";
    seed: number;
    runDir: string;
    nExams: number;
    nPatients: number;
    auc: { thresholdKpa: number; auc: number; ci95: [number, number] }[];
  };
  trainingSet: TrainingSetSummary;
  /** Roles an exam needs (all of `all`, one of `anyOf`), as ingest decides usability. */
  requiredRoles: { all: SeriesRole[]; anyOf: SeriesRole[] };
  /**
   * How the training exams' series got their roles: the complete role rules and the per-exam overrides
   * that ingest used. predict applies them to new exams unless a site gives its own (`--rules`,
   * `--overrides`).
   */
  seriesChoice: SeriesChoiceRecord;
  /** sha256 of every file in the bundle folder but bundle.json (relative paths, "/" separators). */
  files: Record<string, string>;
  /** The digest over everything above (and its optional signature); see integrity.ts. */
  integrity: BundleIntegrity;
}

/** The fields `train` fills; writeBundle adds the members, the file list and the integrity block. */
export type BundleContent = Omit<BundleManifest, "members" | "files" | "integrity">;

export interface LoadedBundle {
  path: string;
  manifest: BundleManifest;
  members: { info: BundleMember; model: TrainedModel }[];
  encoder: Encoder;
  dispose(): void;
}

export function sha256Bytes(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes a bundle folder atomically: everything goes into a temporary sibling folder, which replaces
 * `dir` by rename at the end (an existing bundle there is replaced only once the new one is complete).
 */
export function writeBundle(
  dir: string,
  manifest: BundleContent,
  members: { info: Omit<BundleMember, "file" | "sha256">; sourceFile: string }[],
  options: { signKey?: string } = {},
): BundleManifest {
  const target = resolve(dir);
  if (existsSync(target) && !existsSync(join(target, BUNDLE_MANIFEST)))
    throw new LiverstiffError("--out exists and is not a liverstiff bundle; choose a new folder", {
      path: dir,
    });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "models"), { recursive: true });
  try {
    const written: BundleMember[] = members.map((m, i) => {
      const bytes = readFileSync(m.sourceFile);
      const file = `models/fold-${String(i + 1).padStart(2, "0")}.safetensors`;
      writeFileAtomic(join(tmp, file), bytes);
      return { ...m.info, file, sha256: sha256Bytes(bytes) };
    });
    const content = {
      ...manifest,
      members: written,
      files: fileDigests(tmp, bundleFiles(tmp, BUNDLE_MANIFEST)),
    };
    const full: BundleManifest = {
      ...content,
      integrity: sealManifest(content as unknown as Record<string, unknown>, options.signKey),
    };
    writeJsonAtomic(join(tmp, BUNDLE_MANIFEST), full);
    if (existsSync(target)) {
      const old = `${tmp}.old`;
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
    return full;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export interface BundleCheckOptions {
  /** A PEM Ed25519 public key: the bundle must be signed by it. */
  trust?: string;
}

/**
 * Reads and checks bundle.json, its digest over every field and file, and (with `trust`) its signature; no
 * weights are loaded. Every refusal is a LiverstiffError naming the bundle and what is wrong with it.
 */
export function readBundleManifest(
  path: string,
  options: BundleCheckOptions = {},
): { dir: string; manifest: BundleManifest } {
  if (!existsSync(path)) throw new LiverstiffError("model bundle not found", { bundle: path });
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const file = join(dir, BUNDLE_MANIFEST);
  if (!existsSync(file))
    throw new LiverstiffError(
      `not a liverstiff model bundle: ${BUNDLE_MANIFEST} is missing (make one with \`liverstiff train\`)`,
      { bundle: path },
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new LiverstiffError(`corrupt model bundle: ${BUNDLE_MANIFEST} is not valid JSON`, {
      bundle: dir,
      error: describeError(err),
    });
  }
  const m = raw as Partial<BundleManifest> | null;
  if (!m || typeof m !== "object" || m.format !== BUNDLE_FORMAT)
    throw new LiverstiffError(
      `not a liverstiff model bundle: ${BUNDLE_MANIFEST} has no "format": "${BUNDLE_FORMAT}"`,
      {
        bundle: dir,
      },
    );
  if (m.formatVersion !== BUNDLE_FORMAT_VERSION) {
    const by = m.codeVersion?.version ? ` (written by liverstiff ${m.codeVersion.version})` : "";
    throw new LiverstiffError(
      `model bundle format version ${String(m.formatVersion)}${by} cannot be read by this liverstiff, which reads version ${BUNDLE_FORMAT_VERSION}; use the liverstiff version that wrote it, or re-train the bundle with this one`,
      { bundle: dir },
    );
  }
  checkIntegrity(dir, m as Record<string, unknown>, BUNDLE_MANIFEST, options.trust);
  for (const key of [
    "recipe",
    "preparation",
    "prepName",
    "encoder",
    "cutoffs",
    "members",
    "trainingSet",
    "seriesChoice",
  ] as const)
    if (m[key] === undefined || m[key] === null)
      throw new LiverstiffError(`corrupt model bundle: ${BUNDLE_MANIFEST} lacks "${key}"`, { bundle: dir });
  const manifest = m as BundleManifest;
  if (!Array.isArray(manifest.members) || manifest.members.length === 0)
    throw new LiverstiffError(`corrupt model bundle: ${BUNDLE_MANIFEST} lists no member model`, {
      bundle: dir,
    });
  if (
    !Array.isArray(manifest.cutoffs.values) ||
    manifest.cutoffs.values.length !== manifest.thresholdsKpa?.length
  )
    throw new LiverstiffError(`corrupt model bundle: cut-offs do not match the thresholds`, { bundle: dir });
  for (const member of manifest.members) {
    // Only files the digest covers, inside the folder, are ever loaded.
    if (typeof member.file !== "string" || manifest.files[member.file] !== member.sha256)
      throw new LiverstiffError("corrupt model bundle: a member is not one of the bundle's listed files", {
        bundle: dir,
        file: String(member.file),
      });
    const p = join(dir, member.file);
    if (!existsSync(p))
      throw new LiverstiffError("corrupt model bundle: a member model file is missing", {
        bundle: dir,
        file: member.file,
      });
    if (sha256Bytes(readFileSync(p)) !== member.sha256)
      throw new LiverstiffError(
        "corrupt model bundle: a member model file does not match its checksum in bundle.json (truncated or modified)",
        { bundle: dir, file: member.file },
      );
  }
  return { dir, manifest };
}

/**
 * Loads a bundle for prediction: checks it (readBundleManifest), loads every member head and creates the
 * encoder, refusing an encoder whose weights differ from those the bundle was trained on.
 */
export function loadBundle(path: string, options: BundleCheckOptions = {}): LoadedBundle {
  const { dir, manifest } = readBundleManifest(path, options);
  const members: LoadedBundle["members"] = [];
  const disposeAll = () => {
    for (const m of members) m.model.dispose();
  };
  try {
    for (const info of manifest.members) {
      let model: TrainedModel;
      try {
        model = loadTrainedModel(join(dir, info.file));
      } catch (err) {
        throw new LiverstiffError(
          `corrupt model bundle: a member model cannot be loaded: ${describeError(err)}`,
          {
            bundle: dir,
            file: info.file,
          },
        );
      }
      members.push({ info, model });
    }
  } catch (err) {
    disposeAll();
    throw err;
  }
  let encoder: Encoder;
  try {
    encoder = createEncoder(manifest.encoder.name);
  } catch (err) {
    disposeAll();
    throw new LiverstiffError(`the bundle's encoder is not available here: ${describeError(err)}`, {
      bundle: dir,
      encoder: manifest.encoder.name,
    });
  }
  const id = encoder.identity;
  if (id.weightsSha256 !== manifest.encoder.weightsSha256 || id.featureDim !== manifest.encoder.featureDim) {
    encoder.dispose();
    disposeAll();
    throw new LiverstiffError(
      "the encoder installed here is not the one the bundle was trained with (weights checksum differs); install the encoder weights the bundle names",
      {
        bundle: dir,
        encoder: manifest.encoder.name,
        expected: manifest.encoder.weightsSha256.slice(0, 16),
        found: id.weightsSha256.slice(0, 16),
      },
    );
  }
  return {
    path: dir,
    manifest,
    members,
    encoder,
    dispose() {
      disposeAll();
      encoder.dispose();
    },
  };
}
