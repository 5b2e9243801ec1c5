// Backbone weights from safetensors files with timm's or torchvision's parameter names: the naming is
// detected, keys are mapped onto the models' (timm's current) names, every name and shape is checked
// against the model BEFORE anything is copied, and a file that does not fit names its first mismatched
// tensors. The file's sha256 is computed (and compared when an expected value is known) before use.
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { LiverstiffError } from "../../core/index.ts";
import { type Tensor, tidy } from "../../torch/index.ts";
import type { Module, ShapeMismatch, StateDict } from "../module.ts";
import { type RawTensor, rawTensorValues, readSafetensors } from "../safetensors.ts";
import { rawToTensor } from "../weights.ts";
import { relativePositionIndex } from "./swin.ts";

/** How a file names its tensors. */
export type NamingScheme = "timm" | "timm-legacy" | "torchvision";

export type BackboneFamily = "swin" | "resnet";

/** sha256 of a file (hex), read in 16 MiB chunks. */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(16 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * The naming of a Swin state dict: torchvision (`features.<k>...`), timm before 0.9 (`layers.<i>.downsample`
 * at the END of stages 0..2, `head.weight`), or timm >= 0.9 (downsample at the start of stages 1..3,
 * `head.fc.weight`). ResNets are named alike in both libraries ("timm").
 */
export function detectScheme(keys: Iterable<string>, family: BackboneFamily): NamingScheme {
  const list = [...keys].map(stripPrefix);
  if (family === "resnet") return "timm";
  if (list.some((k) => k.startsWith("features."))) return "torchvision";
  if (list.some((k) => k.startsWith("layers.0.downsample.") || k === "head.weight")) return "timm-legacy";
  return "timm";
}

function stripPrefix(key: string): string {
  return key.startsWith("module.") ? key.slice(7) : key;
}

/** Keys that carry no learned values: buffers timm recomputes (relative_position_index, attn_mask). */
export function isDerivedBuffer(key: string): boolean {
  return key.endsWith(".relative_position_index") || key.endsWith(".attn_mask");
}

/**
 * A file's key in the models' names (timm >= 0.9 for Swin, torchvision = timm for ResNet). Returns the
 * key unchanged when no rule applies (it then shows up as unexpected).
 */
export function mapKey(key: string, scheme: NamingScheme, family: BackboneFamily): string {
  const k = stripPrefix(key);
  if (family === "resnet") return k;
  if (scheme === "timm-legacy") {
    const m = /^layers\.(\d+)\.downsample\.(.*)$/.exec(k);
    if (m) return `layers.${Number(m[1]) + 1}.downsample.${m[2]}`;
    if (k === "head.weight" || k === "head.bias") return `head.fc.${k.slice(5)}`;
    return k;
  }
  if (scheme === "torchvision") {
    let m = /^features\.0\.0\.(weight|bias)$/.exec(k);
    if (m) return `patch_embed.proj.${m[1]}`;
    m = /^features\.0\.2\.(weight|bias)$/.exec(k);
    if (m) return `patch_embed.norm.${m[1]}`;
    m = /^features\.(\d+)\.(.*)$/.exec(k);
    if (m) {
      const idx = Number(m[1]);
      const rest = m[2];
      if (idx % 2 === 1) {
        const b = /^(\d+)\.(.*)$/.exec(rest);
        if (!b) return k;
        const inner = b[2].replace(/^mlp\.0\./, "mlp.fc1.").replace(/^mlp\.3\./, "mlp.fc2.");
        return `layers.${(idx - 1) / 2}.blocks.${b[1]}.${inner}`;
      }
      return `layers.${idx / 2}.downsample.${rest}`;
    }
    if (k === "head.weight" || k === "head.bias") return `head.fc.${k.slice(5)}`;
    return k;
  }
  return k;
}

/** Classifier tensors: kept when the model has a head, ignored (and reported) when it is features only. */
function isClassifier(key: string, family: BackboneFamily): boolean {
  return family === "swin" ? key.startsWith("head.") : key.startsWith("fc.");
}

export interface WeightsCheck {
  file: string;
  sha256: string;
  bytes: number;
  scheme: NamingScheme;
  /** Tensors that load into the model (model names). */
  matched: number;
  /** File keys not used on purpose: the classifier of a features-only model, recomputed buffers. */
  ignored: string[];
  /** Model tensors absent from the file (num_batches_tracked counters excepted: they default to 0). */
  missing: string[];
  /** File keys the model does not have (file names). */
  unexpected: string[];
  shapeMismatches: ShapeMismatch[];
  /** A recomputed buffer (relative_position_index) whose stored values differ from the model's layout. */
  layoutErrors: string[];
  ok: boolean;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkRelativeIndex(raw: RawTensor): boolean {
  const n = raw.shape.reduce((p, d) => p * d, 1);
  const win = Math.round(Math.sqrt(Math.sqrt(n)));
  if (win ** 4 !== n) return false;
  const expected = relativePositionIndex(win);
  const values = rawTensorValues(raw);
  for (let i = 0; i < n; i++) {
    const v = values instanceof BigInt64Array ? Number(values[i]) : (values[i] as number);
    if (v !== expected[i]) return false;
  }
  return true;
}

/**
 * Checks a safetensors file against a model without copying anything: names (after mapping), shapes,
 * the relative-position-index layout of Swin files that carry it, and the sha256 (against `expectedSha256`
 * when given). Returns the check and, when it passed, the tensors to load (model names, raw).
 */
export function inspectBackboneWeights(
  model: Module,
  path: string,
  family: BackboneFamily,
  options: { expectedSha256?: string; label?: string } = {},
): { check: WeightsCheck; mapped: Map<string, RawTensor> } {
  if (!existsSync(path)) throw new LiverstiffError(`weights file not found: ${path}`, { file: path });
  const bytes = statSync(path).size;
  const sha256 = sha256File(path);
  if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== sha256) {
    throw new LiverstiffError(
      `weights file ${path} has sha256 ${sha256}, expected ${options.expectedSha256} (corrupt, truncated or replaced)`,
      { file: path, sha256 },
    );
  }
  const { tensors } = readSafetensors(path); // validates the layout; a truncated file names its first bad tensor
  const scheme = detectScheme(tensors.keys(), family);
  const own = model.stateDictShapes();
  const hasClassifier = [...own.keys()].some((k) => isClassifier(k, family));
  const mapped = new Map<string, RawTensor>();
  const ignored: string[] = [];
  const unexpected: string[] = [];
  const layoutErrors: string[] = [];
  const shapeMismatches: ShapeMismatch[] = [];
  for (const [key, raw] of tensors) {
    if (isDerivedBuffer(key)) {
      if (key.endsWith(".relative_position_index") && !checkRelativeIndex(raw)) layoutErrors.push(key);
      ignored.push(key);
      continue;
    }
    const name = mapKey(key, scheme, family);
    if (isClassifier(name, family) && !hasClassifier) {
      ignored.push(key);
      continue;
    }
    const shape = own.get(name);
    if (shape === undefined) {
      unexpected.push(key);
      continue;
    }
    if (!sameShape(shape, raw.shape)) {
      shapeMismatches.push({ key: name, expected: shape, got: raw.shape });
      continue;
    }
    mapped.set(name, raw);
  }
  const missing = [...own.keys()].filter(
    (k) => !mapped.has(k) && !shapeMismatches.some((m) => m.key === k) && !k.endsWith(".num_batches_tracked"),
  );
  // Report in the model's order, so "first" means the first layer that does not fit.
  const order = new Map([...own.keys()].map((k, i) => [k, i]));
  shapeMismatches.sort((a, b) => (order.get(a.key) ?? 0) - (order.get(b.key) ?? 0));
  const check: WeightsCheck = {
    file: path,
    sha256,
    bytes,
    scheme,
    matched: mapped.size,
    ignored,
    missing,
    unexpected,
    shapeMismatches,
    layoutErrors,
    ok:
      missing.length === 0 &&
      unexpected.length === 0 &&
      shapeMismatches.length === 0 &&
      layoutErrors.length === 0,
  };
  return { check, mapped };
}

const FIRST = 3;

function firstOf(list: readonly string[]): string {
  return list.slice(0, FIRST).join(", ") + (list.length > FIRST ? `, ... (${list.length} in all)` : "");
}

/** One-paragraph description of what does not fit, first mismatched tensors first. */
export function describeWeightsCheck(check: WeightsCheck, label: string): string {
  const parts: string[] = [];
  if (check.shapeMismatches.length) {
    const first = check.shapeMismatches
      .slice(0, FIRST)
      .map((m) => `${m.key} (file [${m.got.join(", ")}], ${label} [${m.expected.join(", ")}])`)
      .join(", ");
    parts.push(`${check.shapeMismatches.length} shape mismatches, first: ${first}`);
  }
  if (check.missing.length)
    parts.push(`${check.missing.length} tensors missing from the file, first: ${firstOf(check.missing)}`);
  if (check.unexpected.length)
    parts.push(`${check.unexpected.length} unexpected tensors, first: ${firstOf(check.unexpected)}`);
  if (check.layoutErrors.length) {
    parts.push(`relative_position_index differs from timm's layout in ${firstOf(check.layoutErrors)}`);
  }
  return parts.join("; ");
}

export class WeightsMismatchError extends LiverstiffError {
  constructor(
    readonly check: WeightsCheck,
    label: string,
  ) {
    super(
      `weights file ${check.file} does not fit ${label} (${check.scheme} names, ${check.matched} tensors match): ${describeWeightsCheck(check, label)}`,
      {
        file: check.file,
        first:
          check.shapeMismatches[0]?.key ??
          check.missing[0] ??
          check.unexpected[0] ??
          check.layoutErrors[0] ??
          "",
      },
    );
    this.name = "WeightsMismatchError";
  }
}

/**
 * Loads a timm or torchvision safetensors file into a backbone after checking it completely (see
 * inspectBackboneWeights); a file that does not fit throws a WeightsMismatchError naming its first
 * mismatched tensors, and the model is left unchanged.
 */
export function loadBackboneWeights(
  model: Module,
  path: string,
  family: BackboneFamily,
  options: { expectedSha256?: string; label?: string } = {},
): WeightsCheck {
  const label = options.label ?? family;
  const { check, mapped } = inspectBackboneWeights(model, path, family, options);
  if (!check.ok) throw new WeightsMismatchError(check, label);
  tidy(() => {
    const state: StateDict = new Map<string, Tensor>();
    for (const [name, raw] of mapped) state.set(name, rawToTensor(raw));
    model.loadStateDict(state, { strict: false, source: path });
  });
  return check;
}
