// Series-role classification from headers: which series (or which echo of a series) is the T1w in-phase,
// T1w opposed-phase or T2w image of an exam. Every decision carries the reasons that produced it.
import { DEFAULT_RULES, type RoleRules, type TeWindows } from "./rules.ts";
import type { MrFrame, RoleDecision, SeriesInfo, SeriesRole } from "./types.ts";

type Phase = "in" | "opp";

interface Compiled {
  keywords: Record<keyof RoleRules["keywords"], RegExp[]>;
  force: { re: RegExp; role: SeriesRole | null; echoTimeMs?: number; pattern: string }[];
}

const compiledCache = new WeakMap<RoleRules, Compiled>();

function compile(rules: RoleRules): Compiled {
  let c = compiledCache.get(rules);
  if (c) return c;
  const keywords = {} as Compiled["keywords"];
  for (const [k, list] of Object.entries(rules.keywords) as [string, string[]][]) {
    keywords[k as keyof Compiled["keywords"]] = list.map((p) => new RegExp(p, "i"));
  }
  c = {
    keywords,
    force: rules.force.map((f) => ({
      re: new RegExp(f.pattern, "i"),
      role: f.role === "none" ? null : f.role,
      pattern: f.pattern,
      ...(f.echoTimeMs !== undefined ? { echoTimeMs: f.echoTimeMs } : {}),
    })),
  };
  compiledCache.set(rules, c);
  return c;
}

/** Lower case, underscores and repeated blanks to one space: "T1_FL2D_OPP-IN_TRA" -> "t1 fl2d opp-in tra". */
export function normaliseDescription(s: string | undefined): string {
  return (s ?? "")
    .toLowerCase()
    .replace(/[_\s]+/g, " ")
    .trim();
}

function firstMatch(res: RegExp[], text: string): string | undefined {
  if (!text) return undefined;
  for (const re of res) {
    const m = re.exec(text);
    if (m) return m[0].trim() || re.source;
  }
  return undefined;
}

// --- geometry -------------------------------------------------------------------------------------

type Plane = "axial" | "coronal" | "sagittal";

function planeOf(f: MrFrame): { plane: Plane; tiltDeg: number } {
  const [rx, ry, rz, cx, cy, cz] = f.imageOrientationPatient;
  const n = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
  const len = Math.hypot(n[0]!, n[1]!, n[2]!) || 1;
  const a = n.map((v) => Math.abs(v / len));
  const i = a[2]! >= a[0]! && a[2]! >= a[1]! ? 2 : a[1]! >= a[0]! ? 1 : 0;
  const plane: Plane = i === 2 ? "axial" : i === 1 ? "coronal" : "sagittal";
  return { plane, tiltDeg: (Math.acos(Math.min(1, a[i]!)) * 180) / Math.PI };
}

function distinctSlices(frames: MrFrame[]): number {
  const keys = new Set<string>();
  for (const f of frames) keys.add(f.imagePositionPatientMm.map((v) => v.toFixed(1)).join(","));
  return keys.size;
}

// --- echo-time physics ----------------------------------------------------------------------------

/** The windows for the nearest configured field strength within 0.3 T, if any. */
function windowsFor(fieldT: number, rules: RoleRules): { key: string; w: TeWindows } | undefined {
  let best: { key: string; w: TeWindows; d: number } | undefined;
  for (const [key, w] of Object.entries(rules.teWindowsMs)) {
    const d = Math.abs(Number(key) - fieldT);
    if (d <= 0.3 && (!best || d < best.d)) best = { key, w, d };
  }
  return best;
}

/** Whether fat and water are in phase or opposed at this TE and field strength, and why. */
export function echoPhase(
  teMs: number,
  fieldT: number | undefined,
  rules: RoleRules = DEFAULT_RULES,
): { phase?: Phase; why: string } {
  if (fieldT === undefined) return { why: `TE ${fmt(teMs)} ms, field strength unknown` };
  const win = windowsFor(fieldT, rules);
  if (win) {
    const inside = (ws: [number, number][]) => ws.some(([lo, hi]) => teMs >= lo && teMs <= hi);
    if (inside(win.w.opposedPhase)) {
      return { phase: "opp", why: `TE ${fmt(teMs)} ms is in an opposed-phase window at ${win.key} T` };
    }
    if (inside(win.w.inPhase))
      return { phase: "in", why: `TE ${fmt(teMs)} ms is in an in-phase window at ${win.key} T` };
    return {
      why: `TE ${fmt(teMs)} ms is in neither an in-phase nor an opposed-phase window at ${win.key} T`,
    };
  }
  // No configured window: use the fat-water chemical shift (3.4 ppm) at this field.
  const cycleMs = 1000 / (3.4e-6 * 42.577478e6 * fieldT);
  const cycles = teMs / cycleMs;
  const frac = cycles - Math.floor(cycles);
  const tol = rules.phaseToleranceCycles;
  if (Math.abs(frac - 0.5) <= tol) {
    return {
      phase: "opp",
      why: `TE ${fmt(teMs)} ms is ${cycles.toFixed(2)} fat-water cycles at ${fmt(fieldT)} T (opposed phase)`,
    };
  }
  if ((frac <= tol || frac >= 1 - tol) && cycles >= 1 - tol) {
    return {
      phase: "in",
      why: `TE ${fmt(teMs)} ms is ${cycles.toFixed(2)} fat-water cycles at ${fmt(fieldT)} T (in phase)`,
    };
  }
  return {
    why: `TE ${fmt(teMs)} ms is ${cycles.toFixed(2)} fat-water cycles at ${fmt(fieldT)} T (neither in nor opposed phase)`,
  };
}

function fmt(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

// --- ImageType ------------------------------------------------------------------------------------

// Bare "IN"/"OUT" are left out on purpose: too generic to trust as ImageType values.
const IN_TYPES = new Set(["IN_PHASE", "IN-PHASE", "IN PHASE", "INPHASE", "IP", "M_IP"]);
const OPP_TYPES = new Set([
  "OUT_PHASE",
  "OUT PHASE",
  "OPP_PHASE",
  "OPP PHASE",
  "OUT_OF_PHASE",
  "OUT OF PHASE",
  "OPPOSED_PHASE",
  "OPPOSED PHASE",
  "OUTPHASE",
  "OP",
  "M_OP",
  "OPP",
]);
const WATER_FAT_TYPES = new Set([
  "W",
  "F",
  "WATER",
  "FAT",
  "M_W",
  "M_F",
  "FF",
  "FAT_FRACTION",
  "FATFRACTION",
  "PDFF",
  "WATER_FRACTION",
  "T2_STAR",
  "R2_STAR",
  "R2STAR",
  "T2STAR",
]);
const DERIVED_OK_TYPES = new Set([...IN_TYPES, ...OPP_TYPES, "DIXON"]);
const PROJECTION_TYPES = new Set([
  "MIP",
  "MNIP",
  "MPR",
  "SUBTRACTION",
  "SUB",
  "PROJECTION IMAGE",
  "PROJECTION",
  "REFORMATTED",
  "CPR",
  "CURVED",
  "VOLUME_RENDERING",
  "MPR_THICK",
  "THICK",
  "COLLAPSE",
  "SCREENSHOT",
]);
const DIFFUSION_TYPES = new Set([
  "DIFFUSION",
  "ADC",
  "EADC",
  "TRACEW",
  "TRACE",
  "FA",
  "CALC_BVALUE",
  "DWI",
  "ISODWI",
  "ISOTROPIC",
  "EXP",
]);
const MRE_TYPES = new Set(["MRE", "WAVE", "STIFFNESS", "ELASTOGRAM", "MAGNITUDE_MRE", "CONFIDENCE"]);
const PHASE_TYPES = new Set(["P", "PHASE", "PHASE MAP", "PHASE_MAP", "R", "I", "IMAGINARY", "REAL"]);

function typePhase(types: string[]): Phase | undefined {
  // The first two values (ORIGINAL/DERIVED, PRIMARY/SECONDARY) never name a phase; "IN" there would be noise.
  const vals = types.slice(2);
  if (vals.some((v) => IN_TYPES.has(v))) return "in";
  if (vals.some((v) => OPP_TYPES.has(v))) return "opp";
  return undefined;
}

function typeHas(types: string[], set: Set<string>): string | undefined {
  return types.slice(2).find((v) => set.has(v));
}

// --- sequence family ------------------------------------------------------------------------------

interface Family {
  gradient: boolean;
  spinEcho: boolean;
  inversion: boolean;
  echoPlanar: boolean;
  why: string;
}

function sequenceFamily(s: SeriesInfo, desc: string): Family {
  const ss = s.scanningSequence ?? [];
  const seq = (s.sequenceName ?? s.pulseSequenceName ?? "").toLowerCase();
  const eps = s.echoPulseSequence;
  const why: string[] = [];
  let gradient = false;
  let spinEcho = false;
  if (ss.length) why.push(`ScanningSequence ${ss.join("\\")}`);
  if (s.sequenceName) why.push(`SequenceName ${s.sequenceName}`);
  if (s.pulseSequenceName) why.push(`PulseSequenceName ${s.pulseSequenceName}`);
  if (eps) why.push(`EchoPulseSequence ${eps}`);
  const inversion = ss.includes("IR") || s.imageType.slice(2).some((v) => v === "IR" || v === "M_IR");
  const echoPlanar = ss.includes("EP") || /(^|\*)ep(i|2d|3d|_)|epi|\bdwi|re(solve)?_?diff/.test(seq);
  if (ss.includes("GR") && !ss.includes("SE")) gradient = true;
  if (ss.includes("SE") && !ss.includes("GR")) spinEcho = true;
  if (eps === "GRADIENT") gradient = true;
  if (eps === "SPIN") spinEcho = true;
  // Philips writes the sequence family into ImageType (M_FFE, M_SE, M_IR, ... and FFE, SE, IR).
  const pt = s.imageType.slice(2);
  if (
    !gradient &&
    !spinEcho &&
    pt.some((v) => v === "FFE" || v === "M_FFE" || v === "PCA" || v === "T1FFE")
  ) {
    gradient = true;
    why.push("ImageType FFE");
  } else if (!gradient && !spinEcho && pt.some((v) => v === "SE" || v === "M_SE" || v === "TSE")) {
    spinEcho = true;
    why.push("ImageType SE");
  }
  if (!gradient && !spinEcho) {
    // Vendor sequence names: Siemens *fl2d2, *tfl, *fl3d (VIBE), *h2d (HASTE), *tse, *tseR (BLADE);
    // GE fgre, efgre3d, fspgr, fse, ssfse; Philips T1FFE, T1TFE, TSE; Canon FFE, FASE; Hitachi RSSG.
    if (
      /^\*?(fl|tfl|fl2d|fl3d|fgre|efgre|spgr|fspgr|gre|ffe|t1ffe|tfe|t1tfe|lava|rssg|vibe|ffe3d|dixon)/.test(
        seq,
      )
    ) {
      gradient = true;
    } else if (
      /^\*?(tse|se|h2d|haste|fse|ssfse|frfse|blade|sshtse|tse2d|fase|fsed|t2tse|tir|stir|ssh)/.test(seq)
    ) {
      spinEcho = true;
    } else if (
      /\b(flash|fl2d|fl3d|vibe|spgr|fspgr|fgre|ffe|gre|lava|thrive|rssg|quick ?3d|starvibe|tfe)\b/.test(desc)
    ) {
      gradient = true;
      why.push("gradient-echo name in the description");
    } else if (/\b(tse|fse|haste|ssfse|blade|propeller|multivane|fase|ssh|se|frfse|sshtse)\b/.test(desc)) {
      spinEcho = true;
      why.push("spin-echo name in the description");
    }
  }
  return { gradient, spinEcho, inversion, echoPlanar, why: why.join(", ") };
}

// --- the classifier -------------------------------------------------------------------------------

/** The longest TE accepted for in/opposed phase: the rule's value, or 1.1 fat-water cycles at low field. */
function maxT1Te(fieldT: number | undefined, rules: RoleRules): number {
  if (fieldT === undefined || fieldT <= 0) return rules.t1MaxEchoTimeMs;
  return Math.max(rules.t1MaxEchoTimeMs, (1.1 * 1000) / (3.4e-6 * 42.577478e6 * fieldT));
}

/** A group of frames that is classified on its own: one echo, or one image type of a mixed series. */
interface FrameGroup {
  frames: MrFrame[];
  echoTimeMs?: number;
  imageTypeValue?: string;
  /** Frames without a reconstruction type in a series whose other frames have one. */
  untyped?: boolean;
  label: string;
}

function reconstructionType(f: MrFrame): string {
  return (
    typeHas(f.imageType, IN_TYPES) ??
    typeHas(f.imageType, OPP_TYPES) ??
    typeHas(f.imageType, WATER_FAT_TYPES) ??
    ""
  );
}

/**
 * Splits a series into the parts that are classified on their own: by echo time when there are two, and
 * by reconstruction (IP/OP/W/F) when the series mixes several (Philips mDixon, Siemens Dixon), or both.
 */
function splitGroups(s: SeriesInfo): FrameGroup[] {
  const byEcho = s.echoTimesMs.length === 2;
  const types = new Set(s.frames.map(reconstructionType));
  const byType = types.size > 1;
  if (!byEcho && !byType) {
    // One echo of a multi-echo series the indexer split: the role names its echo, as if split here.
    const te = (s.acquisitionEchoTimesMs?.length ?? 0) > 1 ? s.echoTimesMs[0] : undefined;
    return [{ frames: s.frames, label: "series", ...(te !== undefined ? { echoTimeMs: te } : {}) }];
  }
  const groups = new Map<string, FrameGroup>();
  for (const f of s.frames) {
    const te = byEcho
      ? s.echoTimesMs.find((t) => f.echoTimeMs !== undefined && Math.abs(f.echoTimeMs - t) < 0.01)
      : undefined;
    const type = byType ? reconstructionType(f) : undefined;
    const key = `${te ?? ""}|${type ?? ""}`;
    let g = groups.get(key);
    if (!g) {
      const label = [
        te !== undefined ? `echo TE ${fmt(te)} ms` : "",
        type ? `ImageType ${type} frames` : type === "" ? "frames without a reconstruction ImageType" : "",
      ]
        .filter(Boolean)
        .join(", ");
      g = {
        frames: [],
        label,
        ...(te !== undefined ? { echoTimeMs: te } : {}),
        ...(type ? { imageTypeValue: type } : {}),
      };
      if (type === "") g.untyped = true;
      groups.set(key, g);
    }
    g.frames.push(f);
  }
  // Echo order first, then the order in which the types appear.
  return [...groups.values()].sort((a, b) => (a.echoTimeMs ?? 0) - (b.echoTimeMs ?? 0));
}

/** What the series-wide rules read; `base` collects the reasons every decision of the series carries. */
interface SeriesContext {
  series: SeriesInfo;
  rules: RoleRules;
  keywords: Compiled["keywords"];
  desc: string;
  descRaw: string | undefined;
  descName: string;
  base: string[];
}

/**
 * Classifies one series. Returns one decision, or one per echo for a dual-echo series (each with its
 * echoTimeMs), or one per image type for a series that mixes reconstructed types (with imageTypeValue).
 */
export function classifySeries(series: SeriesInfo, rules: RoleRules = DEFAULT_RULES): RoleDecision[] {
  const c = compile(rules);
  const descRaw = series.seriesDescription ?? series.protocolName;
  const ctx: SeriesContext = {
    series,
    rules,
    keywords: c.keywords,
    desc: normaliseDescription(descRaw),
    descRaw,
    descName: descRaw ? `description "${descRaw}"` : "no description",
    base: series.splitReason ? [series.splitReason] : [],
  };
  const forced = forcedRole(ctx, c);
  if (forced) return [forced];
  // Exclusions that apply to the whole series, in the order their reasons are most telling.
  const excluded =
    scopeExclusion(ctx) ??
    geometryExclusion(ctx) ??
    derivedExclusion(ctx) ??
    contrastExclusion(ctx) ??
    diffusionExclusion(ctx) ??
    elastographyExclusion(ctx) ??
    componentExclusion(ctx);
  if (excluded) return [{ role: null, reasons: [...ctx.base, excluded] }];
  const family = sequenceFamily(series, ctx.desc);
  const acquisition = acquisitionExclusion(ctx, family);
  if (acquisition) return [{ role: null, reasons: [...ctx.base, acquisition] }];
  const groups = splitGroups(series);
  const seriesFacts = {
    keywords: ctx.keywords,
    desc: ctx.desc,
    descName: ctx.descName,
    family,
    base: ctx.base,
  };
  return groups.map((g) => classifyGroup(groupContext(series, g, groups.length, rules, seriesFacts)));
}

/** A role forced by a pattern of the rules file on the description. */
function forcedRole(ctx: SeriesContext, c: Compiled): RoleDecision | undefined {
  const { descRaw } = ctx;
  for (const f of c.force) {
    if (descRaw && f.re.test(descRaw)) {
      const reasons = [`forced to ${f.role ?? "none"} by rules pattern /${f.pattern}/ on ${ctx.descName}`];
      const d: RoleDecision = { role: f.role, reasons };
      if (f.echoTimeMs !== undefined) d.echoTimeMs = f.echoTimeMs;
      if (f.role) d.strength = 4;
      return d;
    }
  }
  return undefined;
}

// Each exclusion returns the reason the series is no role, or undefined to go on.

function scopeExclusion({ series, rules }: SeriesContext): string | undefined {
  if (series.modality !== "MR") return `modality ${series.modality} is not MR`;
  const bodyPart = series.bodyPartExamined?.toUpperCase().replace(/[\s-]+/g, "_");
  if (bodyPart && !rules.bodyParts.some((b) => b.toUpperCase() === bodyPart)) {
    return `body part ${series.bodyPartExamined} is not abdominal`;
  }
  if (series.frames.length === 0) return "series has no frames";
  return undefined;
}

/** Localizers and anything not axial; an axial series adds its plane (and tilt) to the reasons. */
function geometryExclusion(ctx: SeriesContext): string | undefined {
  const { series } = ctx;
  const planes = new Map<Plane, number>();
  let tilt = 0;
  for (const f of series.frames) {
    const p = planeOf(f);
    planes.set(p.plane, (planes.get(p.plane) ?? 0) + 1);
    tilt = Math.max(tilt, p.tiltDeg);
  }
  const types = series.imageType;
  if (types.includes("LOCALIZER") || types.includes("SCOUT")) return "ImageType LOCALIZER: a localizer";
  const loc = firstMatch(ctx.keywords.localizer, ctx.desc);
  if (loc) return `localizer (${ctx.descName} contains "${loc}")`;
  if (planes.size >= 2) {
    const list = [...planes.keys()].join(", ");
    return planes.size === 3
      ? `frames in 3 planes (${list}): a 3-plane localizer`
      : `mixed orientations in one series (${list}): a localizer or a composite`;
  }
  const plane = [...planes.keys()][0]!;
  if (plane !== "axial") return `${plane} plane (only axial series are used)`;
  ctx.base.push(tilt > 1 ? `axial plane (tilted ${tilt.toFixed(0)}° from true axial)` : "axial plane");
  return undefined;
}

/** Projections, reformats and derived images, except the in/opposed-phase images vendors mark derived. */
function derivedExclusion(ctx: SeriesContext): string | undefined {
  const { series } = ctx;
  const types = series.imageType;
  const projection = series.frames.map((f) => typeHas(f.imageType, PROJECTION_TYPES)).find(Boolean);
  if (projection) return `ImageType ${projection}: a projection, reformat or subtraction (derived)`;
  const derivedWord = firstMatch(ctx.keywords.derived, ctx.desc);
  if (derivedWord) return `derived series (${ctx.descName} contains "${derivedWord}")`;
  const derived = types[0] === "DERIVED" || types[1] === "SECONDARY";
  const derivedOk = series.frames.some((f) => typeHas(f.imageType, DERIVED_OK_TYPES));
  if (derived && !derivedOk) {
    return `ImageType ${types.join("\\")}: a derived or secondary image, not an acquisition`;
  }
  if (derived)
    ctx.base.push(
      `ImageType ${types.join("\\")} is derived, accepted because the vendor marks in/opposed-phase images so`,
    );
  return undefined;
}

function contrastExclusion({ series, keywords, desc, descName }: SeriesContext): string | undefined {
  const agent = series.contrastBolusAgent?.trim();
  const pre = firstMatch(keywords.preContrast, desc);
  if (agent && !/^(none|no|n\/?a|-+|0|nil)$/i.test(agent)) {
    return `post-contrast: ContrastBolusAgent "${agent}" is set`;
  }
  const post = firstMatch(keywords.postContrast, desc);
  if (post && !pre) return `post-contrast (${descName} contains "${post}")`;
  if (series.temporalPositions && !pre) {
    return `dynamic series with ${series.temporalPositions} temporal positions (contrast phases)`;
  }
  return undefined;
}

function diffusionExclusion({ series, keywords, desc, descName }: SeriesContext): string | undefined {
  const b = (series.diffusionBValues ?? []).filter((v) => v > 0);
  if (b.length) return `diffusion-weighted (b-values ${series.diffusionBValues!.join(", ")} s/mm²)`;
  const dtype = series.frames.map((f) => typeHas(f.imageType, DIFFUSION_TYPES)).find(Boolean);
  if (dtype) return `diffusion-weighted (ImageType ${dtype})`;
  if (series.acquisitionContrast === "DIFFUSION") return "diffusion-weighted (AcquisitionContrast DIFFUSION)";
  const dw = firstMatch(keywords.diffusion, desc);
  if (dw) return `diffusion-weighted (${descName} contains "${dw}")`;
  return undefined;
}

function elastographyExclusion({ series, keywords, desc, descName }: SeriesContext): string | undefined {
  const mtype = series.frames.map((f) => typeHas(f.imageType, MRE_TYPES)).find(Boolean);
  if (mtype) return `MR elastography (ImageType ${mtype})`;
  // Description only: GE and others put the exam protocol ("LIVER MRE") in ProtocolName of every series.
  const mre = firstMatch(keywords.elastography, desc);
  if (mre) return `MR elastography (${descName} contains "${mre}")`;
  return undefined;
}

/** Phase, real and imaginary images, and descriptions the rules exclude outright. */
function componentExclusion({ series, keywords, desc, descName }: SeriesContext): string | undefined {
  if (
    series.complexComponent &&
    series.complexComponent !== "MAGNITUDE" &&
    series.complexComponent !== "MIXED"
  ) {
    return `${series.complexComponent.toLowerCase()} image, not magnitude`;
  }
  const ptype = series.frames.map((f) => typeHas(f.imageType, PHASE_TYPES)).find(Boolean);
  if (ptype) return `phase or complex-component image (ImageType ${ptype})`;
  const excl = firstMatch(keywords.exclude, desc);
  if (excl) return `not a T1w in/opposed-phase or T2w series (${descName} contains "${excl}")`;
  return undefined;
}

/** Echo-planar, relaxometry multi-echo, and series whose copies conflict. */
function acquisitionExclusion({ series }: SeriesContext, family: Family): string | undefined {
  if (family.echoPlanar) return `echo-planar acquisition (${family.why || "sequence name"}), not used`;
  const echoes = acquisitionEchoes(series);
  if (echoes.length > 2) {
    return `multi-echo series with ${echoes.length} echoes (${echoes.map(fmt).join(", ")} ms): a relaxometry or fat-quantification acquisition`;
  }
  if (series.conflictingCopies?.length) {
    return `${series.conflictingCopies[0]}${series.conflictingCopies.length > 1 ? ` (and ${series.conflictingCopies.length - 1} more)` : ""}: which copy is right cannot be told`;
  }
  return undefined;
}

/** What the rules for one frame group read: the series, the group, and what classifySeries found. */
interface GroupContext {
  series: SeriesInfo;
  group: FrameGroup;
  rules: RoleRules;
  keywords: Compiled["keywords"];
  desc: string;
  descName: string;
  family: Family;
  /** The family's evidence in brackets, or "" when there is none. */
  familyWhy: string;
  groupTypes: string[];
  te: number | undefined;
  tr: number | undefined;
  field: number | undefined;
  /** The decision for this group: the series-wide reasons first, then `why`. */
  decide: (role: SeriesRole | null, why: string[], strength: number) => RoleDecision;
}

/** The phase evidence a T1 group carries: its ImageType and the in/opposed/dual words of its description. */
interface PhaseEvidence {
  typePhase: Phase | undefined;
  inWord: string | undefined;
  oppWord: string | undefined;
  dualWord: string | undefined;
  /** The phase the description names, when it names exactly one. */
  wordPhase: Phase | undefined;
}

function groupContext(
  series: SeriesInfo,
  group: FrameGroup,
  nGroups: number,
  rules: RoleRules,
  seriesFacts: {
    keywords: Compiled["keywords"];
    desc: string;
    descName: string;
    family: Family;
    base: string[];
  },
): GroupContext {
  const reasons = [...seriesFacts.base];
  if (nGroups > 1) reasons.push(`${group.label} of a series split into ${nGroups}`);
  const decide = (role: SeriesRole | null, why: string[], strength: number): RoleDecision => {
    const d: RoleDecision = { role, reasons: [...reasons, ...why] };
    if (group.echoTimeMs !== undefined) d.echoTimeMs = group.echoTimeMs;
    if (group.imageTypeValue !== undefined) d.imageTypeValue = group.imageTypeValue;
    if (role) d.strength = strength;
    return d;
  };
  const { family } = seriesFacts;
  return {
    series,
    group,
    rules,
    keywords: seriesFacts.keywords,
    desc: seriesFacts.desc,
    descName: seriesFacts.descName,
    family,
    familyWhy: family.why ? ` (${family.why})` : "",
    groupTypes: group.frames[0]!.imageType,
    te: group.echoTimeMs ?? (series.echoTimesMs.length === 1 ? series.echoTimesMs[0] : undefined),
    tr: series.repetitionTimeMs,
    field: series.magneticFieldStrengthT,
    decide,
  };
}

function classifyGroup(ctx: GroupContext): RoleDecision {
  const excluded = groupExclusion(ctx);
  if (excluded) return excluded;
  const evidence = phaseEvidence(ctx);
  if (looksT1(ctx, evidence)) return classifyT1(ctx, evidence);
  return classifyT2(ctx);
}

/** Groups that are no role whatever their sequence: untyped reconstructions, partial stacks, Dixon water/fat. */
function groupExclusion(ctx: GroupContext): RoleDecision | undefined {
  const { group, rules, decide, groupTypes } = ctx;
  if (group.untyped) {
    // No selector can name these frames apart from the typed ones, and a vendor that types some
    // reconstructions and not others leaves their meaning unclear.
    return decide(
      null,
      ["frames without a reconstruction ImageType in a series of typed reconstructions"],
      0,
    );
  }
  const slices = distinctSlices(group.frames);
  if (slices < rules.minSlices) {
    return decide(
      null,
      [
        `only ${slices} slice${slices === 1 ? "" : "s"} (fewer than ${rules.minSlices}): a localizer or partial stack`,
      ],
      0,
    );
  }
  const wf = typeHas(groupTypes, WATER_FAT_TYPES);
  if (wf)
    return decide(null, [`Dixon ${wf} image (ImageType ${groupTypes.join("\\")}), not in/opposed phase`], 0);
  const wfWord = firstMatch(ctx.keywords.waterFat, ctx.desc);
  if (wfWord && !typePhase(groupTypes))
    return decide(null, [`Dixon water/fat image (${ctx.descName} contains "${wfWord}")`], 0);
  return undefined;
}

function phaseEvidence(ctx: GroupContext): PhaseEvidence {
  const inWord = firstMatch(ctx.keywords.inPhase, ctx.desc);
  const oppWord = firstMatch(ctx.keywords.opposedPhase, ctx.desc);
  const dualWord = firstMatch(ctx.keywords.dualEcho, ctx.desc);
  const wordPhase: Phase | undefined =
    dualWord || (inWord && oppWord) ? undefined : inWord ? "in" : oppWord ? "opp" : undefined;
  return { typePhase: typePhase(ctx.groupTypes), inWord, oppWord, dualWord, wordPhase };
}

/** T1 in/opposed phase is a gradient echo, a phase ImageType, or phase naming at a short TE; never spin echo. */
function looksT1(ctx: GroupContext, ev: PhaseEvidence): boolean {
  const { family } = ctx;
  const t1 =
    family.gradient ||
    ev.typePhase !== undefined ||
    ((ev.inWord || ev.oppWord || ev.dualWord) &&
      !family.spinEcho &&
      (ctx.te ?? 0) < maxT1Te(ctx.field, ctx.rules));
  return Boolean(t1) && !family.spinEcho;
}

// --- T1 in/opposed phase: gradient echo, short TE and TR.

function classifyT1(ctx: GroupContext, ev: PhaseEvidence): RoleDecision {
  const why: string[] = [ctx.family.gradient ? `gradient echo${ctx.familyWhy}` : "in/opposed-phase naming"];
  const excluded = t1Exclusion(ctx, ev, why);
  if (excluded) return excluded;
  const { phase, strength } = t1Phase(ctx, ev, why);
  if (!phase)
    return ctx.decide(
      null,
      [...why, "neither ImageType, echo time nor description identifies in- or opposed-phase"],
      0,
    );
  if (ctx.tr !== undefined) why.push(`TR ${fmt(ctx.tr)} ms`);
  return ctx.decide(phase === "in" ? "t1_in" : "t1_opp", why, strength);
}

/** A gradient echo that is not chemical-shift T1: long TE or TR, fat-suppressed, or balanced SSFP. */
function t1Exclusion(ctx: GroupContext, ev: PhaseEvidence, why: string[]): RoleDecision | undefined {
  const { series: s, te, tr, decide } = ctx;
  if (te !== undefined && te > maxT1Te(ctx.field, ctx.rules) && !ev.typePhase) {
    return decide(null, [...why, `TE ${fmt(te)} ms is too long for in/opposed-phase T1w (T2*-weighted)`], 0);
  }
  if (tr !== undefined && tr > ctx.rules.t1MaxRepetitionTimeMs && !ev.typePhase) {
    return decide(null, [...why, `TR ${fmt(tr)} ms is too long for T1w`], 0);
  }
  const fsType = (s.scanOptions ?? []).find((o) =>
    /^(FS|SFS|FAT|FATSAT|FAT_SAT|SAT_FAT|CHESS|SPAIR|SPIR|WE)$/.test(o),
  );
  const fsWord = firstMatch(ctx.keywords.fatSuppression, ctx.desc);
  if ((fsType || fsWord) && !ev.typePhase) {
    return decide(
      null,
      [
        ...why,
        `fat-suppressed (${fsType ? `ScanOptions ${fsType}` : `${ctx.descName} contains "${fsWord}"`}), so not an in/opposed-phase image`,
      ],
      0,
    );
  }
  // Balanced SSFP (TrueFISP, FIESTA, bFFE) has TE = TR/2 at a few ms and a large flip angle, which can
  // land in an opposed-phase window; chemical-shift T1 is either a long-TR 2D FLASH or a low-flip 3D.
  const flip = s.flipAngleDeg;
  if (
    !ev.typePhase &&
    !ev.wordPhase &&
    !ev.dualWord &&
    tr !== undefined &&
    tr < 10 &&
    flip !== undefined &&
    flip >= 30
  ) {
    return decide(
      null,
      [
        ...why,
        `TR ${fmt(tr)} ms with flip angle ${fmt(flip)}°: a balanced steady-state (SSFP-like) image, not in/opposed phase`,
      ],
      0,
    );
  }
  return undefined;
}

/**
 * In or opposed phase, from the strongest evidence there is: ImageType (3), the echo time at the field
 * strength (2), the echo order of a dual echo or the description (1). Adds its reasons to `why`.
 */
function t1Phase(
  ctx: GroupContext,
  ev: PhaseEvidence,
  why: string[],
): { phase: Phase | undefined; strength: number } {
  const { te, field, descName } = ctx;
  const ep = te !== undefined ? echoPhase(te, field, ctx.rules) : undefined;
  if (ev.typePhase) {
    why.push(
      `ImageType says ${ev.typePhase === "in" ? "in-phase" : "opposed-phase"} (${ctx.groupTypes.join("\\")})`,
    );
    if (ep?.phase && ep.phase !== ev.typePhase) why.push(`${ep.why}, but ImageType takes precedence`);
    return { phase: ev.typePhase, strength: 3 };
  }
  if (ep?.phase) {
    why.push(ep.why);
    if (ev.wordPhase && ev.wordPhase !== ep.phase) {
      why.push(
        `${descName} suggests ${ev.wordPhase === "in" ? "in-phase" : "opposed-phase"}, but the echo time decides`,
      );
    }
    return { phase: ep.phase, strength: 2 };
  }
  if (ctx.group.echoTimeMs !== undefined && acquisitionEchoes(ctx.series).length === 2) {
    return dualEchoPhase(ctx, ep, why);
  }
  if (ev.wordPhase && (ep === undefined || field === undefined)) {
    const phase = ev.wordPhase;
    if (ep) why.push(ep.why);
    why.push(
      `${descName} says ${phase === "in" ? "in-phase" : "opposed-phase"} ("${phase === "in" ? ev.inWord : ev.oppWord}")`,
    );
    return { phase, strength: 1 };
  }
  if (ep) why.push(ep.why);
  return { phase: undefined, strength: 0 };
}

/** Dual echo with no usable field strength: the first echo of a chemical-shift pair is opposed. */
function dualEchoPhase(
  ctx: GroupContext,
  ep: { why: string } | undefined,
  why: string[],
): { phase: Phase | undefined; strength: number } {
  const [t1, t2] = acquisitionEchoes(ctx.series) as [number, number];
  const ratio = t2 / t1;
  if (!(ratio > 1.6 && ratio < 2.4)) {
    if (ep) why.push(ep.why);
    return { phase: undefined, strength: 0 };
  }
  const phase: Phase = ctx.group.echoTimeMs === t1 ? "opp" : "in";
  if (ep) why.push(ep.why);
  why.push(
    `dual echo ${fmt(t1)}/${fmt(t2)} ms (ratio ${ratio.toFixed(2)}): the ${phase === "opp" ? "shorter echo is opposed-phase" : "longer echo is in-phase"}`,
  );
  return { phase, strength: 1 };
}

// --- T2: spin echo family, long TE and TR.

function classifyT2(ctx: GroupContext): RoleDecision {
  const { family, familyWhy, te, decide } = ctx;
  if (family.gradient) {
    return decide(
      null,
      [
        `gradient echo${familyWhy} with TE ${te !== undefined ? fmt(te) : "?"} ms: neither in/opposed-phase nor T2w`,
      ],
      0,
    );
  }
  const t2Word = firstMatch(ctx.keywords.t2, ctx.desc);
  const why: string[] = [];
  const familyDecision = t2Family(ctx, t2Word, why);
  if (familyDecision) return familyDecision;
  if (te === undefined) {
    if (t2Word) return decide("t2", [...why, `no echo time; ${ctx.descName} contains "${t2Word}"`], 1);
    return decide(null, [...why, "no echo time"], 0);
  }
  const timing = t2Timing(ctx, te, why);
  if (timing) return timing;
  const { series: s, tr } = ctx;
  why.push(`TE ${fmt(te)} ms${tr !== undefined ? `, TR ${fmt(tr)} ms` : ""}`);
  if (s.echoTrainLength !== undefined && s.echoTrainLength > 1)
    why.push(`echo train ${s.echoTrainLength} (turbo/fast spin echo)`);
  if (t2Word) why.push(`${ctx.descName} contains "${t2Word}"`);
  return decide("t2", why, family.spinEcho || family.inversion ? 2 : 1);
}

/** The sequence family of a T2 candidate (spin echo, inversion recovery, or a T2 word); FLAIR is refused. */
function t2Family(ctx: GroupContext, t2Word: string | undefined, why: string[]): RoleDecision | undefined {
  const { family, familyWhy, decide } = ctx;
  const ti = ctx.series.inversionTimeMs;
  if (family.spinEcho) why.push(`spin echo${familyWhy}`);
  else if (family.inversion) why.push(`inversion recovery${familyWhy}`);
  else if (t2Word) why.push(`sequence family unknown${familyWhy}`);
  if (family.inversion && ti !== undefined) {
    if (ti > 1200) return decide(null, [...why, `inversion time ${fmt(ti)} ms: FLAIR, not used`], 0);
    if (ti < 300) why.push(`STIR (TI ${fmt(ti)} ms), counted as fat-suppressed T2w`);
  }
  if (!family.spinEcho && !family.inversion && !t2Word) {
    return decide(
      null,
      [`not identified as a T2w or in/opposed-phase series${familyWhy}; ${ctx.descName}`],
      0,
    );
  }
  return undefined;
}

/** TE and TR outside the T2w windows: proton density or T1 below, MRCP-like above, too short a TR. */
function t2Timing(ctx: GroupContext, te: number, why: string[]): RoleDecision | undefined {
  const { rules, tr, decide } = ctx;
  if (te < rules.t2MinEchoTimeMs) {
    const kind = tr !== undefined && tr < 1000 ? "T1-weighted" : "proton-density weighted";
    return decide(
      null,
      [...why, `TE ${fmt(te)} ms is below ${rules.t2MinEchoTimeMs} ms: ${kind}, not T2w`],
      0,
    );
  }
  if (te > rules.t2MaxEchoTimeMs) {
    return decide(
      null,
      [...why, `TE ${fmt(te)} ms is above ${rules.t2MaxEchoTimeMs} ms: heavily T2-weighted (MRCP-like)`],
      0,
    );
  }
  if (tr !== undefined && tr > 0 && tr < rules.t2MinRepetitionTimeMs) {
    return decide(null, [...why, `TR ${fmt(tr)} ms is too short for T2w`], 0);
  }
  return undefined;
}

/** The echo times of the acquisition: the whole series' when the indexer split it by echo. */
function acquisitionEchoes(s: SeriesInfo): number[] {
  return s.acquisitionEchoTimesMs ?? s.echoTimesMs;
}

/** The frames of a series that a decision takes (its echo and image type, when the series was split). */
export function selectFrames(series: SeriesInfo, decision: RoleDecision): MrFrame[] {
  return series.frames.filter(
    (f) =>
      (decision.echoTimeMs === undefined ||
        (f.echoTimeMs !== undefined && Math.abs(f.echoTimeMs - decision.echoTimeMs) < 0.01)) &&
      (decision.imageTypeValue === undefined || f.imageType.includes(decision.imageTypeValue)),
  );
}
