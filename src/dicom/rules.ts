// The series-role rules: keyword lists, echo-time windows and thresholds, with the defaults below and an
// optional YAML/JSON file (docs/dicom.md) that extends or replaces them and forces roles by description.
import { readFileSync } from "node:fs";
import type * as Zod from "zod";
import { LiverstiffError, yaml, zod } from "../core/index.ts";
import type { SeriesRole } from "./types.ts";

/** Keyword lists: case-insensitive regular expressions matched against a normalised series description. */
export interface RoleKeywords {
  inPhase: string[];
  opposedPhase: string[];
  dualEcho: string[];
  t2: string[];
  t1: string[];
  localizer: string[];
  postContrast: string[];
  diffusion: string[];
  elastography: string[];
  derived: string[];
  waterFat: string[];
  fatSuppression: string[];
  /** Anything else that rules a series out: maps, MRCP, angiography, cine, ... */
  exclude: string[];
  /** Descriptions that say the series is explicitly pre-contrast (overrides postContrast keywords). */
  preContrast: string[];
}

/** Echo-time windows (ms) in which fat and water are in phase or opposed, per field strength. */
export interface TeWindows {
  inPhase: [number, number][];
  opposedPhase: [number, number][];
}

export interface ForcedRole {
  /** Regular expression (case-insensitive) matched against SeriesDescription (ProtocolName when absent). */
  pattern: string;
  role: SeriesRole | "none";
  /** For a multi-echo series: the echo that takes the role. */
  echoTimeMs?: number;
}

export interface RoleRules {
  keywords: RoleKeywords;
  /** Keyed by field strength in tesla as a string ("1.5", "3"); the nearest key within 0.3 T applies. */
  teWindowsMs: Record<string, TeWindows>;
  /** Fraction of the fat-water cycle accepted around in/opposed phase for fields with no window. */
  phaseToleranceCycles: number;
  /** Series with fewer slices than this are treated as localizers or partial acquisitions. */
  minSlices: number;
  t1MaxEchoTimeMs: number;
  t1MaxRepetitionTimeMs: number;
  t2MinEchoTimeMs: number;
  t2MaxEchoTimeMs: number;
  t2MinRepetitionTimeMs: number;
  /** Body parts (BodyPartExamined) accepted; others are excluded. Absent body part is accepted. */
  bodyParts: string[];
  /** Which T2 the best-series picker prefers when both exist; undefined = no preference. */
  preferT2FatSuppressed?: boolean;
  force: ForcedRole[];
}

export const DEFAULT_RULES: RoleRules = {
  keywords: {
    inPhase: [
      "\\bin[ -]?phase\\b",
      "\\binphase\\b",
      "\\bin[ -]?ph\\b",
      "\\bip\\b",
      "\\bin\\b",
      "\\bm[ -]?ip\\b",
    ],
    opposedPhase: [
      "\\bopp(osed)?[ -]?(phase)?\\b",
      "\\bout[ -]?(of[ -]?)?phase\\b",
      "\\boutphase\\b",
      "\\bout[ -]?ph\\b",
      "\\bop\\b",
      "\\boop\\b",
      "\\bout\\b",
      "\\bm[ -]?op\\b",
    ],
    dualEcho: [
      "\\bdual[ -]?echo\\b",
      "\\bdual\\b",
      "\\bin[ /-]+(opp|out|op)\\b",
      "\\b(opp|out|op)[ /-]+in\\b",
      "\\bip[ /-]+op\\b",
      "\\bop[ /-]+ip\\b",
      "\\bchemical shift\\b",
    ],
    t2: [
      "\\bt2\\b",
      "\\bt2w\\b",
      "\\bt2[ -]?w(eighted)?\\b",
      "\\bhaste\\b",
      "\\bssfse\\b",
      "\\bss[ -]?fse\\b",
      "\\bfse\\b",
      "\\bfrfse\\b",
      "\\bssh?[ -]?tse\\b",
      "\\bblade\\b",
      "\\bpropeller\\b",
      "\\bmultivane\\b",
      "\\bstir\\b",
      "\\bspair\\b",
      "\\bfase\\b",
      "\\bsshtse\\b",
    ],
    t1: [
      "\\bt1\\b",
      "\\bt1w\\b",
      "\\bfl2d\\b",
      "\\bffe\\b",
      "\\bfspgr\\b",
      "\\bspgr\\b",
      "\\bflash\\b",
      "\\brssg\\b",
    ],
    localizer: [
      "\\bloc(alizer|aliser|ator)?\\b",
      "\\bscout\\b",
      "\\bsurvey\\b",
      "\\b3[ -]?plane\\b",
      "\\btri[ -]?pilot\\b",
      "\\bpilot\\b",
      "\\bcalibration\\b",
      "\\bcal\\b",
      "\\bref(erence)? ?scan\\b",
      "\\bsmartprep\\b",
      "\\bbolus ?track",
      "\\basset cal\\b",
      "\\bcoil ?survey\\b",
      "\\bsense ?ref\\b",
      "\\bmap ?scan\\b",
    ],
    postContrast: [
      "\\bpost\\b",
      "\\bpost[ -]?(contrast|gad|gd|c)\\b",
      "\\+ ?c\\b",
      "\\+ ?gd\\b",
      "\\bgad\\b",
      "\\bgd\\b",
      "\\bgado\\w*",
      "\\bcontrast\\b",
      "\\bc\\+",
      "\\bdelay(ed)?\\b",
      "\\barterial\\b",
      "\\bportal\\b",
      "\\bvenous\\b",
      "\\bpv\\b",
      "\\bequilibrium\\b",
      "\\bhepatobiliary\\b",
      "\\bhbp\\b",
      "\\blate\\b",
      "\\bdyn(amic)?\\b",
      "\\bdce\\b",
      "\\beob\\b",
      "\\bprimovist\\b",
      "\\beovist\\b",
      "\\bmultihance\\b",
      "\\b\\d+ ?min(ute)?s?\\b",
    ],
    preContrast: [
      "\\bpre\\b",
      "\\bpre[ -]?(contrast|gad|gd)\\b",
      "\\bnon[ -]?contrast\\b",
      "\\bunenhanced\\b",
    ],
    diffusion: [
      "\\bdwi\\b",
      "\\bdiff(usion)?\\b",
      "\\badc\\b",
      "\\beadc\\b",
      "\\btrace\\w*",
      "\\bb ?\\d{2,4}\\b",
      "\\bep2d[ _-]?diff",
      "\\bivim\\b",
      "\\bdti\\b",
      "\\bresolve\\b",
    ],
    elastography: [
      "\\bmre\\b",
      "\\belast\\w*",
      "\\bwave\\b",
      "\\bstiff(ness)?\\b",
      "\\bkpa\\b",
      "\\bconfidence\\b",
      "\\bmr[ -]?touch\\b",
    ],
    derived: [
      "\\bmip\\b",
      "\\bmpr\\b",
      "\\bsub(traction)?\\b",
      "\\bsubtract\\w*",
      "\\brecon(struction)?\\b",
      "\\breformat\\w*",
      "\\bprojection\\b",
      "\\bcollection\\b",
      "\\bmarked\\b",
      "\\bscreen ?(save|capture)\\b",
      "\\bkey ?images?\\b",
    ],
    waterFat: [
      "\\bwater\\b(?! ?(sel|excit|exc))",
      "\\bfat\\b(?! ?(sat|supp|sup|suppressed|saturat|free))",
      "\\bw\\b$",
      "\\bf\\b$",
      "\\bff\\b",
      "\\bfat ?fraction\\b",
      "\\bpdff\\b",
    ],
    fatSuppression: [
      "\\bfs\\b",
      "\\bfat ?sat\\w*",
      "\\bfat ?supp\\w*",
      "\\bspair\\b",
      "\\bspir\\b",
      "\\bchess\\b",
      "\\bstir\\b",
      "\\bwe\\b",
      "\\bfatsat\\b",
      "\\bspectral\\b",
      // Sequences that are fat-suppressed by design: GE LAVA (not LAVA-Flex), Philips THRIVE.
      "\\blava\\b(?![ -]?flex)",
      "\\be?thrive\\b",
    ],
    exclude: [
      "\\bmrcp\\b",
      "\\bcholangio\\w*",
      "\\bmap\\b",
      "\\bmaps\\b",
      "\\bt1 ?map\\w*",
      "\\bt2 ?map\\w*",
      "\\bt2\\*",
      "\\br2\\*",
      "\\br2 ?star\\b",
      "\\bideal[ -]?iq\\b",
      "\\bq[ -]?dixon\\b",
      "\\bmolli\\b",
      "\\bshmolli\\b",
      "\\bcine\\b",
      "\\btof\\b",
      "\\bangio\\w*",
      "\\bmra\\b",
      "\\bperfusion\\b",
      "\\bspectro\\w*",
      "\\bsvs\\b",
      "\\bcsi\\b",
      "\\bflair\\b",
      "\\bswi\\b",
      "\\btrue ?fisp\\b",
      "\\btrufi\\b",
      "\\bfiesta\\b",
      "\\bb[ -]?ffe\\b",
      "\\bb?ssfp\\b",
      "\\btrue ?ssfp\\b",
      "\\bbalanced\\b",
      "\\bphase ?contrast\\b",
      "\\bvelocity\\b",
    ],
  },
  teWindowsMs: {
    "1.5": {
      inPhase: [
        [4.0, 4.9],
        [8.6, 9.6],
      ],
      opposedPhase: [
        [1.9, 2.6],
        [6.4, 7.2],
      ],
    },
    "3": {
      inPhase: [
        [2.1, 2.65],
        [4.4, 5.0],
        [6.7, 7.3],
      ],
      opposedPhase: [
        [0.95, 1.45],
        [3.2, 3.8],
        [5.5, 6.0],
      ],
    },
  },
  phaseToleranceCycles: 0.12,
  minSlices: 5,
  t1MaxEchoTimeMs: 12,
  t1MaxRepetitionTimeMs: 500,
  t2MinEchoTimeMs: 50,
  t2MaxEchoTimeMs: 300,
  t2MinRepetitionTimeMs: 600,
  bodyParts: [
    "ABDOMEN",
    "LIVER",
    "ABDOMENPELVIS",
    "ABDOMEN_PELVIS",
    "CHEST_ABDOMEN",
    "CHESTABDOMEN",
    "UPPER_ABDOMEN",
    "TORSO",
    "BODY",
    "TRUNK",
    "WHOLEBODY",
    "WHOLE_BODY",
    "PANCREAS",
    "KIDNEY",
    "SPLEEN",
    "ABD",
    "MRCP",
    "HEPATIC",
  ],
  force: [],
};

/** The schema of a rules file (built on first use: zod is loaded only when a rules file is read). */
function buildRulesFileSchema() {
  const { z } = zod();
  const keywordListSchema = z.array(z.string().min(1));
  const windowSchema = z.tuple([z.number().nonnegative(), z.number().positive()]);
  return z
    .object({
      /** "extend" (default) adds the file's keywords to the defaults; "replace" uses only the file's. */
      keywordMode: z.enum(["extend", "replace"]).default("extend"),
      keywords: z
        .object({
          inPhase: keywordListSchema,
          opposedPhase: keywordListSchema,
          dualEcho: keywordListSchema,
          t2: keywordListSchema,
          t1: keywordListSchema,
          localizer: keywordListSchema,
          postContrast: keywordListSchema,
          preContrast: keywordListSchema,
          diffusion: keywordListSchema,
          elastography: keywordListSchema,
          derived: keywordListSchema,
          waterFat: keywordListSchema,
          fatSuppression: keywordListSchema,
          exclude: keywordListSchema,
        })
        .partial()
        .strict()
        .optional(),
      teWindowsMs: z
        .record(
          z.string().regex(/^\d+(\.\d+)?$/, 'field strength key in tesla, e.g. "1.5"'),
          z.object({ inPhase: z.array(windowSchema), opposedPhase: z.array(windowSchema) }).strict(),
        )
        .optional(),
      phaseToleranceCycles: z.number().positive().max(0.25).optional(),
      minSlices: z.number().int().nonnegative().optional(),
      t1MaxEchoTimeMs: z.number().positive().optional(),
      t1MaxRepetitionTimeMs: z.number().positive().optional(),
      t2MinEchoTimeMs: z.number().positive().optional(),
      t2MaxEchoTimeMs: z.number().positive().optional(),
      t2MinRepetitionTimeMs: z.number().nonnegative().optional(),
      bodyParts: z.array(z.string()).optional(),
      preferT2FatSuppressed: z.boolean().optional(),
      force: z
        .array(
          z
            .object({
              pattern: z.string().min(1),
              role: z.enum(["t1_in", "t1_opp", "t2", "none"]),
              echoTimeMs: z.number().positive().optional(),
            })
            .strict(),
        )
        .optional(),
    })
    .strict();
}
let rulesFileSchema: ReturnType<typeof buildRulesFileSchema> | undefined;

export type RoleRulesFile = Zod.input<ReturnType<typeof buildRulesFileSchema>>;

/** Combines a rules file's content with the defaults; throws LiverstiffError naming the bad field. */
export function buildRoleRules(content: unknown, source = "rules"): RoleRules {
  rulesFileSchema ??= buildRulesFileSchema();
  const parsed = rulesFileSchema.safeParse(content ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LiverstiffError(`invalid role rules: ${issue.message}`, {
      file: source,
      field: issue.path.join(".") || "(root)",
    });
  }
  const f = parsed.data;
  for (const [key, list] of Object.entries(f.keywords ?? {})) {
    for (const pattern of list ?? []) checkRegex(pattern, source, `keywords.${key}`);
  }
  for (const [i, rule] of (f.force ?? []).entries()) checkRegex(rule.pattern, source, `force.${i}.pattern`);
  for (const [key, w] of Object.entries(f.teWindowsMs ?? {})) {
    for (const [lo, hi] of [...w.inPhase, ...w.opposedPhase]) {
      if (!(lo < hi)) {
        throw new LiverstiffError(`invalid role rules: TE window [${lo}, ${hi}] is empty`, {
          file: source,
          field: `teWindowsMs.${key}`,
        });
      }
    }
  }
  const keywords = { ...DEFAULT_RULES.keywords };
  for (const [key, list] of Object.entries(f.keywords ?? {}) as [
    keyof RoleKeywords,
    string[] | undefined,
  ][]) {
    if (!list) continue;
    keywords[key] = f.keywordMode === "replace" ? [...list] : [...DEFAULT_RULES.keywords[key], ...list];
  }
  const rules: RoleRules = {
    ...DEFAULT_RULES,
    keywords,
    teWindowsMs: { ...DEFAULT_RULES.teWindowsMs, ...(f.teWindowsMs ?? {}) },
    force: (f.force ?? []).map((r) => ({ ...r })),
  };
  const scalars = [
    "phaseToleranceCycles",
    "minSlices",
    "t1MaxEchoTimeMs",
    "t1MaxRepetitionTimeMs",
    "t2MinEchoTimeMs",
    "t2MaxEchoTimeMs",
    "t2MinRepetitionTimeMs",
    "bodyParts",
    "preferT2FatSuppressed",
  ] as const;
  for (const k of scalars) {
    if (f[k] !== undefined) (rules as unknown as Record<string, unknown>)[k] = f[k];
  }
  return rules;
}

function checkRegex(pattern: string, source: string, field: string): void {
  try {
    new RegExp(pattern, "i");
  } catch (e) {
    throw new LiverstiffError(
      `invalid role rules: bad regular expression ${JSON.stringify(pattern)}: ${(e as Error).message}`,
      {
        file: source,
        field,
      },
    );
  }
}

/** Loads a YAML (.yaml/.yml) or JSON rules file and merges it with the defaults. */
export function loadRoleRules(path: string): RoleRules {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new LiverstiffError(`cannot read role rules: ${(e as Error).message}`, { file: path });
  }
  let content: unknown;
  try {
    content = /\.json$/i.test(path) ? JSON.parse(text) : yaml().parse(text);
  } catch (e) {
    throw new LiverstiffError(`role rules do not parse: ${(e as Error).message}`, { file: path });
  }
  return buildRoleRules(content, path);
}

/**
 * The rules as a complete rules file (every keyword list replaced, every value set): what a model bundle
 * stores, so that predict classifies with the rules training used even after the defaults change.
 * `buildRoleRules(rulesAsFile(r))` gives back rules equal to r.
 */
export function rulesAsFile(rules: RoleRules): RoleRulesFile {
  const file: RoleRulesFile = {
    keywordMode: "replace",
    keywords: Object.fromEntries(Object.entries(rules.keywords).map(([k, v]) => [k, [...v]])),
    teWindowsMs: structuredClone(rules.teWindowsMs),
    phaseToleranceCycles: rules.phaseToleranceCycles,
    minSlices: rules.minSlices,
    t1MaxEchoTimeMs: rules.t1MaxEchoTimeMs,
    t1MaxRepetitionTimeMs: rules.t1MaxRepetitionTimeMs,
    t2MinEchoTimeMs: rules.t2MinEchoTimeMs,
    t2MaxEchoTimeMs: rules.t2MaxEchoTimeMs,
    t2MinRepetitionTimeMs: rules.t2MinRepetitionTimeMs,
    bodyParts: [...rules.bodyParts],
    force: rules.force.map((f) => ({ ...f })),
  };
  if (rules.preferT2FatSuppressed !== undefined) file.preferT2FatSuppressed = rules.preferT2FatSuppressed;
  return file;
}
