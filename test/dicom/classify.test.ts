// Series-role rules: a table over vendor conventions (built series), the decisions on the real samples,
// the rules file, and the best-series picker.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  buildRoleRules,
  classifySeries,
  DEFAULT_RULES,
  echoPhase,
  indexDicom,
  layerOverrides,
  loadRoleRules,
  loadSeriesOverrides,
  type MrFrame,
  OVERRIDE_COLUMNS,
  overridesForExam,
  parseSeriesOverrides,
  pickSeriesForRoles,
  rulesAsFile,
  type SeriesInfo,
  selectFrames,
  seriesChoiceFromRecord,
  seriesChoiceRecord,
} from "../../src/dicom/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const work = scratchDir("liverstiff-rules-");

interface Spec {
  desc: string;
  flip?: number;
  protocol?: string;
  vendor?: SeriesInfo["vendor"];
  field?: number;
  ss?: string;
  seq?: string;
  te: number[];
  tr?: number;
  etl?: number;
  ti?: number;
  imageType?: string;
  /** Per-frame ImageType values cycling over the slices (a series mixing reconstructions). */
  frameTypes?: string[];
  slices?: number;
  plane?: "axial" | "coronal" | "3plane";
  scanOptions?: string;
  agent?: string;
  b?: number[];
  bodyPart?: string;
  seriesNumber?: number;
}

let uid = 0;
function series(s: Spec): SeriesInfo {
  const n = s.slices ?? 24;
  const imageType = (s.imageType ?? "ORIGINAL\\PRIMARY\\M\\NORM").split("\\");
  const frames: MrFrame[] = [];
  const ori = {
    axial: [1, 0, 0, 0, 1, 0],
    coronal: [1, 0, 0, 0, 0, -1],
    sagittal: [0, 1, 0, 0, 0, -1],
  } as const;
  const frameTypeSets = s.frameTypes ?? [undefined];
  for (const te of s.te) {
    for (const ft of frameTypeSets) {
      for (let i = 0; i < n; i++) {
        const plane =
          s.plane === "3plane" ? (["axial", "coronal", "sagittal"] as const)[i % 3] : (s.plane ?? "axial");
        frames.push({
          file: `/x/${uid}/${te}/${ft ?? ""}/${i}.dcm`,
          frameIndex: 0,
          transferSyntaxUid: "1.2.840.10008.1.2.1",
          sopInstanceUid: `1.2.${uid}.${te}.${ft ?? ""}.${i}`,
          instanceNumber: i + 1,
          imagePositionPatientMm: [-180, -150, -100 + 7 * i],
          imageOrientationPatient: [...ori[plane]],
          pixelSpacingMm: [1.5, 1.5],
          rows: 192,
          columns: 256,
          echoTimeMs: te,
          rescaleSlope: 1,
          rescaleIntercept: 0,
          imageType: ft ? ft.split("\\") : imageType,
        });
      }
    }
  }
  uid++;
  const out: SeriesInfo = {
    seriesInstanceUid: `1.2.3.${uid}`,
    studyInstanceUid: "1.2.3",
    patientId: "P1",
    modality: "MR",
    sopClassUid: "1.2.840.10008.5.1.4.1.1.4",
    vendor: s.vendor ?? "Siemens",
    seriesDescription: s.desc,
    echoTimesMs: [...s.te].sort((a, b) => a - b),
    imageType,
    enhanced: false,
    frames,
  };
  if (s.field !== undefined) out.magneticFieldStrengthT = s.field;
  if (s.protocol) out.protocolName = s.protocol;
  if (s.flip !== undefined) out.flipAngleDeg = s.flip;
  if (s.ss) out.scanningSequence = s.ss.split("\\");
  if (s.seq) out.sequenceName = s.seq;
  if (s.tr !== undefined) out.repetitionTimeMs = s.tr;
  if (s.etl !== undefined) out.echoTrainLength = s.etl;
  if (s.ti !== undefined) out.inversionTimeMs = s.ti;
  if (s.scanOptions) out.scanOptions = s.scanOptions.split("\\");
  if (s.agent) out.contrastBolusAgent = s.agent;
  if (s.b) out.diffusionBValues = s.b;
  if (s.bodyPart) out.bodyPartExamined = s.bodyPart;
  if (s.seriesNumber !== undefined) out.seriesNumber = s.seriesNumber;
  return out;
}

type Expect = [role: string, reason: RegExp, echoTimeMs?: number];

// Each row: a series as a vendor writes it, and the expected decisions (role, a reason keyword, echo).
const TABLE: [string, Spec, Expect[]][] = [
  [
    "Siemens 1.5T 2D FLASH dual echo in one series",
    { desc: "t1_fl2d_opp-in_tra_bh", field: 1.5, ss: "GR", seq: "*fl2d2", te: [2.38, 4.76], tr: 150 },
    [
      ["t1_opp", /TE 2\.38 ms is in an opposed-phase window at 1\.5 T/, 2.38],
      ["t1_in", /TE 4\.76 ms is in an in-phase window at 1\.5 T/, 4.76],
    ],
  ],
  [
    "Siemens 3T 2D FLASH dual echo",
    { desc: "t1_fl2d_in-opp_tra", field: 3, ss: "GR", seq: "*fl2d2", te: [1.29, 2.46], tr: 140 },
    [
      ["t1_opp", /opposed-phase window at 3 T/, 1.29],
      ["t1_in", /in-phase window at 3 T/, 2.46],
    ],
  ],
  [
    "Siemens 3T VIBE Dixon opposed-phase series (ImageType OPP_PHASE)",
    {
      desc: "t1_vibe_dixon_tra_bh_opp",
      field: 3,
      ss: "GR",
      seq: "*fl3d2",
      te: [1.23],
      tr: 4,
      imageType: "ORIGINAL\\PRIMARY\\M\\OPP_PHASE\\DIS3D\\DIXON",
    },
    [["t1_opp", /ImageType says opposed-phase/]],
  ],
  [
    "Siemens VIBE Dixon water image",
    {
      desc: "t1_vibe_dixon_tra_bh_W",
      field: 3,
      ss: "GR",
      seq: "*fl3d2",
      te: [2.46],
      tr: 4,
      imageType: "DERIVED\\PRIMARY\\DIXON\\WATER",
    },
    [["none", /derived or secondary|Dixon/]],
  ],
  [
    "Siemens HASTE with fat saturation",
    {
      desc: "t2_haste_fs_tra_mbh",
      field: 1.5,
      ss: "SE",
      seq: "*haste2d1",
      te: [92],
      tr: 1400,
      etl: 128,
      scanOptions: "PFP\\FS",
    },
    [["t2", /spin echo.*SequenceName \*haste2d1/]],
  ],
  [
    "Siemens T2 TSE BLADE",
    {
      desc: "t2_tse_blade_tra_fs_trig",
      field: 3,
      ss: "SE",
      seq: "*tseR2d1rs27",
      te: [101],
      tr: 3600,
      etl: 27,
    },
    [["t2", /echo train 27/]],
  ],
  [
    "Siemens 3-plane localizer",
    {
      desc: "localizer",
      field: 1.5,
      ss: "GR",
      seq: "*tfi2d1_12",
      te: [1.13],
      tr: 3.2,
      slices: 9,
      plane: "3plane",
    },
    [["none", /localizer/]],
  ],
  [
    "Siemens DWI",
    {
      desc: "ep2d_diff_b50_800_tra",
      field: 1.5,
      ss: "EP",
      seq: "*ep_b800t",
      te: [60],
      tr: 4800,
      b: [50, 800],
    },
    [["none", /diffusion-weighted \(b-values 50, 800/]],
  ],
  [
    "Siemens post-contrast VIBE (ContrastBolusAgent)",
    {
      desc: "t1_vibe_fs_tra_bh",
      field: 1.5,
      ss: "GR",
      seq: "*fl3d1",
      te: [2.39],
      tr: 4.9,
      agent: "Gadovist",
      scanOptions: "FS",
    },
    [["none", /post-contrast: ContrastBolusAgent "Gadovist"/]],
  ],
  [
    "Siemens pre-contrast fat-saturated VIBE at an opposed-phase TE",
    {
      desc: "t1_vibe_fs_tra_bh_pre",
      field: 1.5,
      ss: "GR",
      seq: "*fl3d1",
      te: [2.39],
      tr: 4.9,
      scanOptions: "FS",
    },
    [["none", /fat-suppressed \(ScanOptions FS\)/]],
  ],
  [
    "GE 3T dual echo in one series",
    {
      desc: "AX DUAL ECHO",
      vendor: "GE",
      field: 3,
      ss: "GR",
      te: [1.15, 2.3],
      tr: 175,
      scanOptions: "FAST_GEMS\\EDR_GEMS",
    },
    [
      ["t1_opp", /opposed-phase window/, 1.15],
      ["t1_in", /in-phase window/, 2.3],
    ],
  ],
  [
    "GE LAVA-Flex in-phase (derived)",
    {
      desc: "InPhase: AX LAVA-Flex",
      vendor: "GE",
      field: 3,
      ss: "GR",
      te: [2.3],
      tr: 6.4,
      imageType: "DERIVED\\PRIMARY\\IN_PHASE",
    },
    [["t1_in", /ImageType says in-phase/]],
  ],
  [
    "GE LAVA-Flex in-phase in an MRE exam (ProtocolName names the exam, not the series)",
    {
      desc: "InPhase: AX LAVA-Flex",
      protocol: "LIVER MRE",
      vendor: "GE",
      field: 1.5,
      ss: "GR",
      te: [4.2],
      tr: 6.4,
      imageType: "DERIVED\\PRIMARY\\IN_PHASE",
    },
    [["t1_in", /ImageType says in-phase/]],
  ],
  [
    "GE LAVA-Flex out-of-phase (derived)",
    {
      desc: "OutPhase: AX LAVA-Flex",
      vendor: "GE",
      field: 3,
      ss: "GR",
      te: [1.15],
      tr: 6.4,
      imageType: "DERIVED\\PRIMARY\\OUT_PHASE",
    },
    [["t1_opp", /ImageType says opposed-phase/]],
  ],
  [
    "GE LAVA-Flex water (derived)",
    {
      desc: "WATER: AX LAVA-Flex",
      vendor: "GE",
      field: 3,
      ss: "GR",
      te: [1.15],
      tr: 6.4,
      imageType: "DERIVED\\PRIMARY\\WATER",
    },
    [["none", /derived or secondary/]],
  ],
  [
    "GE SSFSE",
    {
      desc: "AX SSFSE T2",
      vendor: "GE",
      field: 1.5,
      ss: "SE",
      te: [85],
      tr: 1600,
      etl: 1,
      scanOptions: "FAST_GEMS\\SS_GEMS",
    },
    [["t2", /TE 85 ms, TR 1600 ms/]],
  ],
  [
    "GE hepatobiliary delay",
    { desc: "Ax LAVA 20 min", vendor: "GE", field: 3, ss: "GR", te: [1.6], tr: 3.8 },
    [["none", /post-contrast \(description "Ax LAVA 20 min" contains "20 min"\)/]],
  ],
  [
    "GE MRE",
    { desc: "AX MRE", vendor: "GE", field: 1.5, ss: "GR", te: [20], tr: 50, slices: 4 },
    [["none", /MR elastography/]],
  ],
  [
    "Philips enhanced in/out phase, frames typed IN_PHASE/OUT_PHASE per echo",
    { desc: "T1 FFE in/out phase", vendor: "Philips", field: 3, ss: "GR", te: [1.15, 2.3], tr: 160 },
    [
      ["t1_opp", /opposed-phase/, 1.15],
      ["t1_in", /in-phase/, 2.3],
    ],
  ],
  [
    "Philips mDixon: IP, OP, W, F reconstructions in one series",
    {
      desc: "mDIXON_BH",
      vendor: "Philips",
      field: 1.5,
      ss: "GR",
      te: [2.3],
      tr: 6,
      frameTypes: [
        "ORIGINAL\\PRIMARY\\M_IP\\IP",
        "ORIGINAL\\PRIMARY\\M_OP\\OP",
        "ORIGINAL\\PRIMARY\\M_W\\W",
        "ORIGINAL\\PRIMARY\\M_F\\F",
      ],
    },
    [
      ["t1_in", /ImageType says in-phase.*opposed-phase window at 1\.5 T, but ImageType takes precedence/],
      ["t1_opp", /ImageType says opposed-phase/],
      ["none", /Dixon M_W image/],
      ["none", /Dixon M_F image/],
    ],
  ],
  [
    "Philips mDixon with two echoes and four reconstructions: split by echo and by type",
    {
      desc: "mDIXON_BH",
      vendor: "Philips",
      field: 3,
      ss: "GR",
      te: [1.15, 2.3],
      tr: 5.5,
      flip: 10,
      frameTypes: ["ORIGINAL\\PRIMARY\\M_IP\\IP", "ORIGINAL\\PRIMARY\\M_OP\\OP", "DERIVED\\PRIMARY\\M_W\\W"],
    },
    [
      ["t1_in", /echo TE 1\.15 ms, ImageType M_IP frames.*ImageType says in-phase/, 1.15],
      ["t1_opp", /echo TE 1\.15 ms, ImageType M_OP frames/, 1.15],
      ["none", /Dixon M_W image/, 1.15],
      ["t1_in", /echo TE 2\.3 ms, ImageType M_IP frames/, 2.3],
      ["t1_opp", /ImageType says opposed-phase.*in-phase window at 3 T, but ImageType takes precedence/, 2.3],
      ["none", /Dixon M_W image/, 2.3],
    ],
  ],
  [
    "a series typing some reconstructions and not others",
    {
      desc: "T1 dual",
      vendor: "Philips",
      field: 3,
      ss: "GR",
      te: [1.15],
      tr: 150,
      frameTypes: ["ORIGINAL\\PRIMARY\\M_OP\\OP", "ORIGINAL\\PRIMARY\\M\\NORM"],
    },
    [
      ["t1_opp", /ImageType says opposed-phase/],
      ["none", /frames without a reconstruction ImageType in a series of typed reconstructions/],
    ],
  ],
  [
    "Philips T2 SPAIR",
    { desc: "T2W_SPAIR", vendor: "Philips", field: 3, ss: "SE", te: [80], tr: 1300, scanOptions: "FS" },
    [["t2", /contains "t2w"/]],
  ],
  [
    "Philips survey",
    { desc: "SURVEY", vendor: "Philips", field: 3, ss: "GR", te: [2.3], tr: 4.6, plane: "3plane" },
    [["none", /localizer \(description "SURVEY" contains "survey"\)/]],
  ],
  [
    "Canon opposed-phase echo stored as its own series",
    { desc: "FFE2D DUAL ECHO", vendor: "Canon", field: 1.5, ss: "GR", te: [2.3], tr: 165 },
    [["t1_opp", /TE 2\.3 ms is in an opposed-phase window at 1\.5 T/]],
  ],
  [
    "Canon in-phase echo stored as its own series",
    { desc: "FFE2D DUAL ECHO", vendor: "Canon", field: 1.5, ss: "GR", te: [4.6], tr: 165 },
    [["t1_in", /in-phase window at 1\.5 T/]],
  ],
  [
    "Canon FASE T2",
    {
      desc: "FASE2D T2 FS BH",
      vendor: "Canon",
      field: 1.5,
      ss: "SE",
      te: [80],
      tr: 1500,
      scanOptions: "FS\\SFT",
    },
    [["t2", /spin echo/]],
  ],
  [
    "Hitachi RSSG in/out with no field strength: echo ratio decides",
    { desc: "RSSG in/out", vendor: "Hitachi", te: [2.2, 4.4], tr: 130 },
    [
      ["t1_opp", /shorter echo is opposed-phase/, 2.2],
      ["t1_in", /longer echo is in-phase/, 4.4],
    ],
  ],
  [
    "0.55T: chemical-shift cycles decide",
    { desc: "t1_fl2d_tra", field: 0.55, ss: "GR", seq: "*fl2d1", te: [6.3], tr: 200 },
    [["t1_opp", /fat-water cycles at 0\.55 T \(opposed phase\)/]],
  ],
  [
    "0.35T open magnet: the in-phase echo at 19 ms is still T1 chemical shift",
    { desc: "T1 GRE dual", vendor: "Hitachi", field: 0.35, ss: "GR", te: [9.9, 19.8], tr: 180, flip: 70 },
    [
      ["t1_opp", /fat-water cycles at 0\.35 T \(opposed phase\)/, 9.9],
      ["t1_in", /fat-water cycles at 0\.35 T \(in phase\)/, 19.8],
    ],
  ],
  [
    "FIESTA axial at 1.5T (TE in the opposed-phase window, but balanced SSFP)",
    { desc: "AX FIESTA", vendor: "GE", field: 1.5, ss: "GR", te: [2.1], tr: 4.2, flip: 55 },
    [["none", /contains "fiesta"/]],
  ],
  [
    "balanced SSFP without a telling name",
    { desc: "ax bh 1", field: 1.5, ss: "GR", te: [2.1], tr: 4.2, flip: 60 },
    [["none", /flip angle 60°: a balanced steady-state/]],
  ],
  [
    "GE LAVA (fat-suppressed by design) at an opposed-phase TE at 3T",
    { desc: "Ax LAVA pre", vendor: "GE", field: 3, ss: "GR", te: [1.3], tr: 3.9, flip: 12 },
    [["none", /fat-suppressed \(description "Ax LAVA pre" contains "lava"\)/]],
  ],
  [
    "GE MR-Touch",
    { desc: "MR-Touch", vendor: "GE", field: 1.5, ss: "GR", te: [20], tr: 50 },
    [["none", /MR elastography/]],
  ],
  [
    "coronal HASTE",
    {
      desc: "t2_haste_cor_mbh",
      field: 1.5,
      ss: "SE",
      seq: "*haste2d1",
      te: [92],
      tr: 1400,
      plane: "coronal",
    },
    [["none", /coronal plane/]],
  ],
  [
    "T1 spin echo",
    { desc: "T1 SE AX", field: 1.5, ss: "SE", te: [12], tr: 500 },
    [["none", /T1-weighted, not T2w/]],
  ],
  ["MRCP", { desc: "MRCP 3D", field: 1.5, ss: "SE", te: [700], tr: 4000 }, [["none", /contains "mrcp"/]]],
  [
    "IDEAL-IQ style multi-echo",
    { desc: "AX 6 echo", vendor: "GE", field: 3, ss: "GR", te: [1, 1.8, 2.6, 3.4, 4.2, 5], tr: 7 },
    [["none", /multi-echo series with 6 echoes/]],
  ],
  [
    "STIR",
    { desc: "AX STIR", field: 1.5, ss: "IR\\SE", seq: "*tir2d1", te: [70], tr: 4000, ti: 160 },
    [["t2", /STIR \(TI 160 ms\), counted as fat-suppressed T2w/]],
  ],
  [
    "head",
    { desc: "t2_tse_tra", field: 3, ss: "SE", te: [100], tr: 4000, bodyPart: "HEAD" },
    [["none", /body part HEAD is not abdominal/]],
  ],
  [
    "few slices",
    { desc: "t2_tse_tra", field: 3, ss: "SE", te: [100], tr: 4000, slices: 3 },
    [["none", /only 3 slices/]],
  ],
];

for (const [name, spec, expected] of TABLE) {
  test(`role rules: ${name}`, () => {
    const s = series(spec);
    const got = classifySeries(s);
    assert.equal(got.length, expected.length, JSON.stringify(got, null, 1));
    for (const [i, [role, reason, te]] of expected.entries()) {
      const d = got[i]!;
      assert.equal(d.role ?? "none", role, JSON.stringify(d));
      assert.match(d.reasons.join("; "), reason);
      if (te !== undefined) {
        assert.equal(d.echoTimeMs, te);
        // The split frames are exactly that echo.
        const fr = selectFrames(s, d);
        assert.ok(fr.length > 0 && fr.every((f) => f.echoTimeMs === te));
      }
      if (d.imageTypeValue !== undefined) {
        const fr = selectFrames(s, d);
        assert.equal(fr.length, spec.slices ?? 24, "one reconstruction of one echo is one stack");
        assert.ok(fr.every((f) => f.imageType.includes(d.imageTypeValue!)));
      }
    }
  });
}

test("echoPhase: the published windows at 1.5 T and 3 T", () => {
  assert.equal(echoPhase(4.4, 1.5).phase, "in");
  assert.equal(echoPhase(4.8, 1.5).phase, "in");
  assert.equal(echoPhase(2.2, 1.5).phase, "opp");
  assert.equal(echoPhase(2.4, 1.5).phase, "opp");
  assert.equal(echoPhase(6.9, 1.5).phase, "opp");
  assert.equal(echoPhase(3.3, 1.5).phase, undefined);
  assert.equal(echoPhase(2.3, 3).phase, "in");
  assert.equal(echoPhase(2.5, 3).phase, "in");
  assert.equal(echoPhase(1.1, 3).phase, "opp");
  assert.equal(echoPhase(1.3, 3).phase, "opp");
  assert.equal(echoPhase(3.45, 3).phase, "opp");
  assert.equal(echoPhase(1.8, 3).phase, undefined);
  assert.equal(echoPhase(2.3, undefined).phase, undefined);
});

test("rules file (YAML): forced roles, extra keywords and TE windows", () => {
  const path = join(work, "rules.yaml");
  writeFileSync(
    path,
    [
      "keywords:",
      '  t2: ["\\\\bsentinel\\\\b"]',
      "teWindowsMs:",
      '  "1.5": { inPhase: [[4.0, 4.9]], opposedPhase: [[3.0, 3.5]] }',
      "minSlices: 10",
      "force:",
      '  - { pattern: "^research dual$", role: t1_in, echoTimeMs: 4.6 }',
      '  - { pattern: "ignore me", role: none }',
    ].join("\n"),
  );
  const rules = loadRoleRules(path);
  assert.ok(rules.keywords.t2.length > DEFAULT_RULES.keywords.t2.length, "extend keeps the defaults");
  const forced = classifySeries(
    series({ desc: "research dual", field: 1.5, ss: "GR", te: [2.3, 4.6], tr: 150 }),
    rules,
  );
  assert.deepEqual(
    forced.map((d) => [d.role, d.echoTimeMs, d.strength]),
    [["t1_in", 4.6, 4]],
  );
  assert.match(forced[0]!.reasons[0]!, /forced to t1_in by rules pattern/);
  const ignored = classifySeries(
    series({ desc: "T2 ignore me", field: 1.5, ss: "SE", te: [90], tr: 2000 }),
    rules,
  );
  assert.equal(ignored[0]!.role, null);
  // A keyword only the file knows, on a series of unknown sequence family.
  const sentinel = classifySeries(series({ desc: "sentinel ax", field: 1.5, te: [90], tr: 2000 }), rules);
  assert.equal(sentinel[0]!.role, "t2");
  assert.equal(
    classifySeries(series({ desc: "sentinel ax", field: 1.5, te: [90], tr: 2000 }))[0]!.role,
    null,
  );
  // The replaced 1.5 T windows: 2.3 ms is no longer opposed phase, 3.2 ms is.
  const s23 = series({ desc: "t1 gre", field: 1.5, ss: "GR", te: [2.3], tr: 150 });
  assert.equal(classifySeries(s23)[0]!.role, "t1_opp");
  assert.equal(classifySeries(s23, rules)[0]!.role, null);
  assert.equal(
    classifySeries(series({ desc: "t1 gre", field: 1.5, ss: "GR", te: [3.2], tr: 150 }), rules)[0]!.role,
    "t1_opp",
  );
  // minSlices 10.
  assert.match(
    classifySeries(
      series({ desc: "t2_tse", field: 1.5, ss: "SE", te: [90], tr: 2000, slices: 8 }),
      rules,
    )[0]!.reasons.join(),
    /fewer than 10/,
  );
});

test("rules file (JSON) with keywordMode replace", () => {
  const path = join(work, "rules.json");
  writeFileSync(path, JSON.stringify({ keywordMode: "replace", keywords: { postContrast: ["\\bkm\\b"] } }));
  const rules = loadRoleRules(path);
  assert.deepEqual(rules.keywords.postContrast, ["\\bkm\\b"]);
  const t2 = { field: 1.5, ss: "SE", te: [90], tr: 2000 };
  assert.equal(classifySeries(series({ desc: "T2 post", ...t2 }), rules)[0]!.role, "t2");
  assert.equal(classifySeries(series({ desc: "T2 KM", ...t2 }), rules)[0]!.role, null);
  assert.equal(classifySeries(series({ desc: "T2 post", ...t2 }))[0]!.role, null);
});

test("rules file errors name the file and the field", () => {
  const bad = (content: unknown, field: RegExp) => {
    try {
      buildRoleRules(content, "site.yaml");
      assert.fail("expected an error");
    } catch (e) {
      assert.ok(e instanceof LiverstiffError);
      assert.equal(e.context.file, "site.yaml");
      assert.match(String(e.context.field), field);
    }
  };
  bad({ keywords: { t3: ["x"] } }, /keywords/);
  bad({ force: [{ pattern: "(", role: "t2" }] }, /force\.0\.pattern/);
  bad({ force: [{ pattern: "x", role: "t1" }] }, /force\.0\.role/);
  bad({ teWindowsMs: { "1.5": { inPhase: [[5, 4]], opposedPhase: [] } } }, /teWindowsMs\.1\.5/);
  bad({ minSlice: 3 }, /\(root\)|minSlice/);
  const path = join(work, "broken.yaml");
  writeFileSync(path, "keywords: [unclosed");
  assert.throws(() => loadRoleRules(path), /role rules do not parse/);
});

test("pickSeriesForRoles: original over derived, more slices, later repeat; reasons name the rule", () => {
  const exam = [
    series({ desc: "t2_haste_tra", field: 1.5, ss: "SE", te: [92], tr: 1400, slices: 20, seriesNumber: 4 }),
    series({ desc: "t2_haste_tra", field: 1.5, ss: "SE", te: [92], tr: 1400, slices: 30, seriesNumber: 5 }),
    series({ desc: "t2_tse_tra", field: 1.5, ss: "SE", te: [92], tr: 3000, slices: 30, seriesNumber: 9 }),
    series({
      desc: "t1_fl2d_opp-in_tra",
      field: 1.5,
      ss: "GR",
      seq: "*fl2d2",
      te: [2.38, 4.76],
      tr: 150,
      seriesNumber: 3,
    }),
    series({
      desc: "InPhase: AX LAVA-Flex",
      field: 1.5,
      ss: "GR",
      te: [4.6],
      tr: 6,
      imageType: "DERIVED\\PRIMARY\\IN_PHASE",
      seriesNumber: 7,
    }),
  ];
  const { chosen, decisions } = pickSeriesForRoles(exam);
  assert.equal(decisions.length, 5);
  // t2: both 30-slice series beat the 20-slice one; the later repeat wins the tie.
  assert.equal(chosen.t2!.series.seriesNumber, 9);
  assert.deepEqual(
    chosen.t2!.alternatives.map((a) => [a.series.seriesNumber, a.whyNot]),
    [
      [5, "later series (a repeat usually replaces a failed acquisition)"],
      [4, "more slices"],
    ],
  );
  // t1_in: the derived LAVA-Flex has the stronger evidence (ImageType) and wins over the dual echo.
  assert.equal(chosen.t1_in!.series.seriesNumber, 7);
  assert.match(chosen.t1_in!.alternatives[0]!.whyNot, /stronger evidence/);
  assert.equal(chosen.t1_opp!.series.seriesNumber, 3);
  assert.equal(chosen.t1_opp!.decision.echoTimeMs, 2.38);
  assert.equal(chosen.t1_opp!.frames.length, 24);
  // With equal evidence the original acquisition wins over a derived one.
  const tie = pickSeriesForRoles([
    series({
      desc: "t2 tse",
      field: 1.5,
      ss: "SE",
      te: [90],
      tr: 2000,
      imageType: "DERIVED\\PRIMARY\\IN_PHASE\\X",
      seriesNumber: 2,
    }),
    series({ desc: "t2 tse", field: 1.5, ss: "SE", te: [90], tr: 2000, seriesNumber: 1 }),
  ]);
  assert.equal(tie.chosen.t2!.series.seriesNumber, 1);
  assert.match(tie.chosen.t2!.reasons[0]!, /original acquisition preferred/);
  // A fat-suppression preference from the rules.
  const fsRules = buildRoleRules({ preferT2FatSuppressed: true });
  const fsPick = pickSeriesForRoles(
    [
      series({ desc: "t2_haste_tra", field: 1.5, ss: "SE", te: [92], tr: 1400, slices: 30, seriesNumber: 8 }),
      series({
        desc: "t2_haste_fs_tra",
        field: 1.5,
        ss: "SE",
        te: [92],
        tr: 1400,
        slices: 20,
        seriesNumber: 6,
      }),
    ],
    fsRules,
  );
  assert.equal(fsPick.chosen.t2!.series.seriesNumber, 6);
});

test("per-exam overrides: a person's choice beats the ranking, 'none' removes a series, echoes stay apart", () => {
  const exam = () => [
    series({ desc: "t2_haste_tra", field: 1.5, ss: "SE", te: [92], tr: 1400, slices: 30, seriesNumber: 5 }),
    series({ desc: "t2_haste_tra", field: 1.5, ss: "SE", te: [92], tr: 1400, slices: 30, seriesNumber: 9 }),
    series({
      desc: "t1_fl2d_opp-in_tra",
      field: 1.5,
      ss: "GR",
      seq: "*fl2d2",
      te: [2.38, 4.76],
      tr: 150,
      seriesNumber: 3,
    }),
  ];
  // Without overrides the later repeat (9) wins; "for this exam use series 5" makes 5 the T2w.
  assert.equal(pickSeriesForRoles(exam()).chosen.t2!.series.seriesNumber, 9);
  const csv = "accession,series_number,role\nA1,5,t2\nA1,3,none\nA2,9,none\n";
  const overrides = parseSeriesOverrides(csv, "site/overrides.csv");
  assert.deepEqual(
    overrides.map((o) => [o.accession, o.seriesNumber, o.role, o.source]),
    [
      ["A1", 5, "t2", "overrides.csv:2"],
      ["A1", 3, "none", "overrides.csv:3"],
      ["A2", 9, "none", "overrides.csv:4"],
    ],
  );
  const forA1 = overridesForExam(overrides, { accessionNumber: "A1", studyInstanceUid: "1.2.3" });
  assert.equal(forA1.length, 2);
  const picked = pickSeriesForRoles(exam(), DEFAULT_RULES, forA1);
  assert.equal(picked.chosen.t2!.series.seriesNumber, 5);
  assert.deepEqual(picked.chosen.t2!.alternatives, [], "an overridden role is not a contest");
  assert.match(picked.chosen.t2!.decision.reasons[0]!, /t2 by per-exam override overrides\.csv:2/);
  // Series 3 (the dual echo) is out: neither T1w role.
  assert.equal(picked.chosen.t1_in, undefined);
  assert.equal(picked.chosen.t1_opp, undefined);
  const d3 = picked.decisions.find((d) => d.series.seriesNumber === 3)!.decisions;
  assert.deepEqual(
    d3.map((d) => d.role),
    [null],
  );
  assert.match(d3[0]!.reasons[0]!, /no role: per-exam override overrides\.csv:3/);
  // One echo of a dual-echo series overridden: the other echo keeps its own decision.
  const echo = parseSeriesOverrides(
    "study_instance_uid,series_number,role,echo_time_ms\n1.2.3,3,t1_in,2.38\n",
    "echo.csv",
  );
  const e = pickSeriesForRoles(exam(), DEFAULT_RULES, echo);
  assert.equal(e.chosen.t1_in!.decision.echoTimeMs, 2.38);
  assert.equal(e.chosen.t1_in!.frames.length, 24);
  assert.ok(e.chosen.t1_in!.frames.every((f) => f.echoTimeMs === 2.38));
  assert.equal(e.chosen.t1_opp, undefined, "the 2.38 ms echo was the opposed phase; it is taken");
  // An override for another exam changes nothing here.
  const other = overridesForExam(overrides, { accessionNumber: "A3", studyInstanceUid: "9.9" });
  assert.equal(pickSeriesForRoles(exam(), DEFAULT_RULES, other).chosen.t2!.series.seriesNumber, 9);
});

test("series overrides files: CSV, YAML, and every bad row refused naming the file and line", () => {
  const yamlPath = join(work, "overrides.yaml");
  writeFileSync(
    yamlPath,
    "- accession: A1\n  series_instance_uid: 1.2.3.4\n  role: t2\n- study_instance_uid: 1.2.9\n  series_number: 4\n  role: none\n",
  );
  const y = loadSeriesOverrides(yamlPath);
  assert.deepEqual(
    y.map((o) => [o.accession ?? o.studyInstanceUid, o.seriesInstanceUid ?? o.seriesNumber, o.role]),
    [
      ["A1", "1.2.3.4", "t2"],
      ["1.2.9", 4, "none"],
    ],
  );
  const bad = (text: string, re: RegExp, file = "o.csv") =>
    assert.throws(
      () => parseSeriesOverrides(text, file),
      (err: unknown) =>
        err instanceof LiverstiffError && re.test(String(err.message + JSON.stringify(err.context))),
    );
  bad("accession,series_number,role\nA1,5,t3\n", /"line":2,"field":"role"/);
  bad("accession,series_number,role\nA1,,t2\n", /series_number or series_instance_uid/);
  bad("series_number,role\n5,t2\n", /exactly one of accession and study_instance_uid/);
  bad("accession,study_instance_uid,series_number,role\nA1,1.2,5,t2\n", /exactly one/);
  bad("accession,series,role\nA1,5,t2\n", /unknown column "series"/);
  bad("accession,series_number,role\nA1,five,t2\n", /series_number/);
  bad("accession,series_number,role\nA1,5,t2\nA1,6,t2\n", /give t2 of one exam to two series/);
  bad("accession,series_number,role\nA1,5,t2\nA1,5,none\n", /another role/);
  bad("accession: A1\n", /must be a list/, "o.yaml");
  assert.throws(() => loadSeriesOverrides(join(work, "absent.csv")), /cannot read the series overrides/);
  assert.deepEqual([...OVERRIDE_COLUMNS].sort(), [
    "accession",
    "echo_time_ms",
    "role",
    "series_instance_uid",
    "series_number",
    "study_instance_uid",
  ]);
  // A site's rows for an exam replace the bundle's rows for that exam, and only for it.
  const base = parseSeriesOverrides("accession,series_number,role\nA1,5,t2\nA2,7,t2\n", "bundle.csv");
  const site = parseSeriesOverrides("accession,series_number,role\nA1,6,t2\n", "site.csv");
  assert.deepEqual(
    layerOverrides(base, site).map((o) => [o.accession, o.seriesNumber]),
    [
      ["A2", 7],
      ["A1", 6],
    ],
  );
});

test("a series choice round-trips through its stored form: rules exactly, overrides checked again", () => {
  const rules = buildRoleRules({
    preferT2FatSuppressed: true,
    minSlices: 7,
    force: [{ pattern: "^x$", role: "none" }],
  });
  assert.deepEqual(buildRoleRules(rulesAsFile(rules)), rules);
  assert.deepEqual(buildRoleRules(rulesAsFile(DEFAULT_RULES)), DEFAULT_RULES);
  const overrides = parseSeriesOverrides("accession,series_number,role\nA1,5,t2\n", "o.csv");
  const record = seriesChoiceRecord({ rules, rulesSource: "r.yaml", overrides, overridesSources: ["o.csv"] });
  const back = seriesChoiceFromRecord(JSON.parse(JSON.stringify(record)), "bundle");
  assert.deepEqual(back.rules, rules);
  assert.deepEqual(back.overrides, overrides);
  assert.equal(seriesChoiceRecord(back).digest, record.digest);
  // A different choice has a different digest; an edited stored row is refused.
  const other = seriesChoiceRecord({
    rules: DEFAULT_RULES,
    rulesSource: "defaults",
    overrides,
    overridesSources: [],
  });
  assert.notEqual(other.digest, record.digest);
  const edited = JSON.parse(JSON.stringify(record));
  edited.overrides[0].role = "t9";
  assert.throws(() => seriesChoiceFromRecord(edited, "bundle"), /invalid series override/);
  const badRules = JSON.parse(JSON.stringify(record));
  badRules.rules.minSlices = -1;
  assert.throws(() => seriesChoiceFromRecord(badRules, "bundle"), /invalid role rules/);
});

// --- the real samples -------------------------------------------------------------------------------

// The permissively licensed real samples, copied into the fixtures (test/fixtures/dicom-samples/README.md).
const samplesDir = fileURLToPath(new URL("../fixtures/dicom-samples/", import.meta.url));
const haveSamples = existsSync(samplesDir);

// file -> [expected role, reason keyword]. None of these public samples is an abdominal in/opposed-phase
// or T2w series; the table shows that each is rejected for the right reason.
const REAL: Record<string, [string, RegExp]> = {
  "abd_siemens_avanto_liver_t1vibe_overlay.dcm": [
    "none",
    /ImageType MPR: a projection, reformat or subtraction/,
  ],
  "pydicom_MR_small_toshiba_rle.dcm": ["none", /DERIVED\\SECONDARY\\OTHER: a derived or secondary image/],
  "wg04_MR3_ge_knee_jpegls.dcm": ["none", /coronal plane/],
  "wg04_MR4_philips_brain_j2k_lossless.dcm": [
    "none",
    /tilted 16°.*DERIVED\\PRIMARY\\OTHER\\R\\IR: a derived/,
  ],
  "enh_siemens_vida_xa10_epi.dcm": ["none", /body part BRAIN is not abdominal/],
  "siemens_aera_head_loc_jpegll.dcm": ["none", /body part HEAD is not abdominal/],
  "ge_mr750_brain_t1.dcm": ["none", /sagittal plane/],
  "enh_philips_achieva_t1ffe_brain.dcm": ["none", /sagittal plane/],
};

test("role decisions on the real samples", {
  skip: haveSamples ? false : `${samplesDir} is absent`,
}, async () => {
  const idx = await indexDicom([samplesDir]);
  // pydicom's MR_small is a downsample of WG04 MR1 and keeps its UIDs: one series of two files.
  const mr1 = idx.series.find((s) =>
    s.frames.some((f) => basename(f.file) === "wg04_MR1_toshiba_brain_jpegll.dcm"),
  );
  assert.equal(mr1?.frames.length, 2);
  assert.deepEqual(
    idx.errors.map((e) => [basename(e.file), e.code]),
    [["pydicom_emri_small_enhMR_j2k.dcm", "missing-geometry"]],
  );
  const seen = new Set<string>();
  for (const s of idx.series) {
    const key = basename(s.frames[0]!.file);
    const exp = REAL[key];
    assert.ok(exp, `no expectation for ${key}`);
    const d = classifySeries(s);
    assert.equal(d.length, 1);
    assert.equal(d[0]!.role ?? "none", exp[0], key);
    assert.match(d[0]!.reasons.join("; "), exp[1], key);
    seen.add(key);
  }
  assert.equal(seen.size, Object.keys(REAL).length);
});

test("the rules-file example in docs/dicom.md is valid", () => {
  const md = readFileSync(fileURLToPath(new URL("../../docs/dicom.md", import.meta.url)), "utf8");
  const block = /## Rules file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(md)?.[1];
  assert.ok(block, "docs/dicom.md has a yaml block under 'Rules file'");
  const path = join(work, "doc-example.yaml");
  writeFileSync(path, block);
  const rules = loadRoleRules(path);
  assert.equal(rules.minSlices, 8);
  assert.deepEqual(rules.teWindowsMs["0.55"], { inPhase: [[12.5, 13.5]], opposedPhase: [[6.0, 7.0]] });
  assert.equal(rules.force.length, 3);
});
