// Site profiles: who a site scans (size, age mix, disease prevalence), on which scanner, and how that
// vendor names and encodes its series. The series plans follow each vendor's real conventions closely
// enough that a header-based classifier has to work for its answer (descriptions, echo times, image
// types, one or two series for a dual echo, enhanced multi-frame objects, protocol changes over the years).

export type VendorName = "Siemens" | "GE" | "Philips" | "Canon";

/** What a series is, for the truth file: a role, or a distractor kind. */
export type SeriesKind =
  | "t1_dual"
  | "t1_in"
  | "t1_opp"
  | "t2"
  | "localizer"
  | "post_contrast"
  | "dwi"
  | "mre_magnitude"
  | "mre_wave";

export type Role = "t1_in" | "t1_opp" | "t2" | "none";

export interface EchoSpec {
  teMs: number;
  role: Role;
  imageType: string[];
}

export interface SeriesSpec {
  kind: SeriesKind;
  seriesNumber: number;
  description: string;
  protocolName: string;
  /** One entry per echo time stored in the series (two for a dual-echo series). */
  echoes: EchoSpec[];
  scanningSequence: string;
  sequenceVariant: string;
  scanOptions: string;
  mrAcquisitionType: "2D" | "3D";
  sequenceName?: string;
  trMs: number;
  flipDeg: number;
  echoTrainLength: number;
  fatSat: boolean;
  /** Single-shot fast spin echo (HASTE, SSFSE, FASE). */
  singleShot?: boolean;
  contrastAgent?: string;
  bValues?: number[];
  /** Written as one Enhanced MR Image object. */
  enhanced: boolean;
}

/** Main-stack acquisition geometry of a site (the T1 and T2 series share it). */
export interface StackSpec {
  rows: number;
  cols: number;
  /** Field of view along the columns (left-right), mm, for an average adult. */
  fovMm: number;
  slices: number;
  thicknessMm: number;
  spacingMm: number;
}

export interface SiteProfile {
  id: string;
  institution: string;
  station: string;
  vendor: VendorName;
  /** Relative share of the cohort's patients. */
  weight: number;
  pediatricShare: number;
  maleShare: number;
  adultAgeMean: number;
  /** Prior mean of the latent severity z (disease prevalence). */
  severityMean: number;
  fieldT: 1.5 | 3;
  stack: StackSpec;
  snrT1: number;
  snrT2: number;
  /** Stored value of subcutaneous fat on T1 in-phase, roughly (intensity scaling). */
  level: number;
  bitsStored: 12 | 16;
  signed: boolean;
  /** Philips-style rescale (stored * slope + intercept = value); undefined = none written. */
  rescaleSlope?: number;
  transferSyntax: "explicit" | "implicit";
  patientPosition: "HFS" | "FFS";
  /** InstanceNumber order: by descending z (head first), ascending, or interleaved acquisition order. */
  instanceOrder: "descending" | "ascending" | "interleaved";
  biasStrength: number;
  ghostProb: number;
  softwareVersion(year: number): string;
  manufacturer(year: number): string;
  model(year: number): string;
  patientIdFormat(n: number): string;
  accessionFormat(n: number, date: string): string;
  /** The series of one exam (numbers, names, sequences), depending on the year (protocol changes). */
  series(year: number, rngPick: (p: number) => boolean): SeriesSpec[];
}

const pad = (n: number, w: number) => String(n).padStart(w, "0");

const T1_IN = (te: number, it: string[]): EchoSpec => ({ teMs: te, role: "t1_in", imageType: it });
const T1_OPP = (te: number, it: string[]): EchoSpec => ({ teMs: te, role: "t1_opp", imageType: it });
const NONE = (te: number, it: string[]): EchoSpec => ({ teMs: te, role: "none", imageType: it });

function base(kind: SeriesKind, n: number, description: string, partial: Partial<SeriesSpec>): SeriesSpec {
  return {
    kind,
    seriesNumber: n,
    description,
    protocolName: description,
    echoes: [],
    scanningSequence: "GR",
    sequenceVariant: "SP",
    scanOptions: "",
    mrAcquisitionType: "2D",
    trMs: 150,
    flipDeg: 70,
    echoTrainLength: 1,
    fatSat: false,
    enhanced: false,
    ...partial,
  };
}

/** Series of one acquisition stored apart (two echoes, magnitude and phase): all but their echo shared. */
function seriesSharing(
  shared: Partial<SeriesSpec>,
  ...series: [kind: SeriesKind, n: number, description: string, echo: EchoSpec][]
): SeriesSpec[] {
  return series.map(([kind, n, description, echo]) =>
    base(kind, n, description, { echoes: [echo], ...shared }),
  );
}

/** The diffusion series: fat-saturated, b = 50 and 800 s/mm². */
function dwi(n: number, description: string, echo: EchoSpec, partial: Partial<SeriesSpec>): SeriesSpec {
  return base("dwi", n, description, {
    echoes: [echo],
    flipDeg: 90,
    fatSat: true,
    ...partial,
    bValues: [50, 800],
  });
}

/** The delayed post-contrast series: a fat-saturated 3D gradient echo. */
function postContrast(
  n: number,
  description: string,
  echo: EchoSpec,
  contrastAgent: string,
  partial: Partial<SeriesSpec>,
): SeriesSpec {
  return base("post_contrast", n, description, {
    echoes: [echo],
    mrAcquisitionType: "3D",
    fatSat: true,
    ...partial,
    contrastAgent,
  });
}

const siemensA: SiteProfile = {
  id: "site-a",
  institution: "Northfield University Hospital",
  station: "AWP45127",
  vendor: "Siemens",
  weight: 0.34,
  pediatricShare: 0.04,
  maleShare: 0.5,
  adultAgeMean: 52,
  severityMean: -1.0,
  fieldT: 1.5,
  stack: { rows: 96, cols: 120, fovMm: 380, slices: 14, thicknessMm: 7, spacingMm: 8 },
  snrT1: 28,
  snrT2: 22,
  level: 900,
  bitsStored: 12,
  signed: false,
  transferSyntax: "explicit",
  patientPosition: "HFS",
  instanceOrder: "descending",
  biasStrength: 0.25,
  ghostProb: 0.15,
  softwareVersion: (y) => (y < 2017 ? "syngo MR D13" : "syngo MR E11"),
  manufacturer: () => "SIEMENS",
  model: () => "Aera",
  patientIdFormat: (n) => pad(n, 8),
  accessionFormat: (n) => `NF${pad(n % 10_000_000, 7)}`,
  series(year, pick) {
    const dis2d = ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"];
    const out: SeriesSpec[] = [
      base("localizer", 1, "localizer", {
        echoes: [NONE(1.13, ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"])],
        sequenceName: "*tfi2d1_12",
        scanningSequence: "GR",
        sequenceVariant: "SP",
        trMs: 3.2,
        flipDeg: 50,
      }),
    ];
    if (year < 2017) {
      out.push(
        base("t1_dual", 5, "t1_fl2d_opp-in_tra_bh", {
          echoes: [T1_OPP(2.38, dis2d), T1_IN(4.76, dis2d)],
          sequenceName: "*fl2d2",
          trMs: 150,
          flipDeg: 70,
        }),
      );
    } else {
      const dixon = (flavour: string) => ["ORIGINAL", "PRIMARY", "M", flavour, "DIS3D", "DIXON"];
      out.push(
        ...seriesSharing(
          {
            protocolName: "t1_vibe_dixon_tra_bh",
            sequenceName: "*fl3d2",
            sequenceVariant: "SK\\SP\\SS",
            mrAcquisitionType: "3D",
            trMs: 6.7,
            flipDeg: 10,
          },
          ["t1_opp", 5, "t1_vibe_dixon_tra_bh_opp", T1_OPP(2.39, dixon("OPP_PHASE"))],
          ["t1_in", 6, "t1_vibe_dixon_tra_bh_in", T1_IN(4.77, dixon("IN_PHASE"))],
        ),
      );
    }
    const fs = year >= 2015 || pick(0.3);
    out.push(
      base("t2", 8, fs ? "t2_haste_fs_tra_mbh" : "t2_haste_tra_mbh", {
        echoes: [{ teMs: 92, role: "t2", imageType: dis2d }],
        sequenceName: "*haste2d1",
        scanningSequence: "SE",
        sequenceVariant: "SK\\SP\\OSP",
        scanOptions: fs ? "PFP\\FS" : "PFP",
        trMs: 1400,
        flipDeg: 160,
        echoTrainLength: 128,
        fatSat: fs,
        singleShot: true,
      }),
      dwi(10, "ep2d_diff_b50_800_tra", NONE(60, ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE", "ND", "NORM"]), {
        sequenceName: "*ep_b800t",
        scanningSequence: "EP",
        sequenceVariant: "SK\\SP",
        scanOptions: "PFP\\FS",
        trMs: 4800,
        echoTrainLength: 48,
      }),
      ...seriesSharing(
        { sequenceName: "*fl2d1_mre", trMs: 50, flipDeg: 25 },
        ["mre_magnitude", 14, "MRE_tra_Magnitude", NONE(22, ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"])],
        ["mre_wave", 15, "MRE_tra_Wave_Images", NONE(22, ["ORIGINAL", "PRIMARY", "P", "NORM", "DIS2D"])],
      ),
      postContrast(
        20,
        "t1_vibe_fs_tra_bh_post",
        NONE(2.39, ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS3D"]),
        "Gadovist",
        {
          sequenceName: "*fl3d1",
          sequenceVariant: "SK\\SP\\SS",
          scanOptions: "FS",
          trMs: 4.9,
          flipDeg: 10,
        },
      ),
    );
    return out;
  },
};

const geB: SiteProfile = {
  id: "site-b",
  institution: "Lakeside Liver Center",
  station: "LLCMR3",
  vendor: "GE",
  weight: 0.26,
  pediatricShare: 0.02,
  maleShare: 0.56,
  adultAgeMean: 55,
  severityMean: 0.1,
  fieldT: 3,
  stack: { rows: 100, cols: 128, fovMm: 400, slices: 14, thicknessMm: 6, spacingMm: 7.5 },
  snrT1: 34,
  snrT2: 26,
  level: 2400,
  bitsStored: 16,
  signed: true,
  transferSyntax: "explicit",
  patientPosition: "FFS",
  instanceOrder: "ascending",
  biasStrength: 0.4,
  ghostProb: 0.1,
  softwareVersion: (y) =>
    y < 2016
      ? "23\\LX\\MR Software release:DV23.0_R01_1344.a"
      : "27\\LX\\MR Software release:DV26.0_R03_1831.b",
  manufacturer: () => "GE MEDICAL SYSTEMS",
  model: () => "DISCOVERY MR750",
  patientIdFormat: (n) => `H${pad(n, 7)}`,
  accessionFormat: (n, date) => `${date.slice(2, 4)}${pad(n % 1_000_000, 6)}`,
  series(year) {
    const other = ["ORIGINAL", "PRIMARY", "OTHER"];
    const out: SeriesSpec[] = [
      base("localizer", 1, "3-PLANE LOC", {
        echoes: [NONE(1.6, ["ORIGINAL", "PRIMARY", "LOCALIZER"])],
        scanningSequence: "GR",
        sequenceVariant: "SS",
        scanOptions: "FAST_GEMS",
        trMs: 4,
        flipDeg: 45,
      }),
    ];
    if (year < 2018) {
      out.push(
        base("t1_dual", 4, "AX DUAL ECHO", {
          echoes: [T1_OPP(1.15, other), T1_IN(2.3, other)],
          sequenceVariant: "SS\\SP",
          scanOptions: "FAST_GEMS\\EDR_GEMS",
          trMs: 175,
          flipDeg: 80,
        }),
      );
    } else {
      out.push(
        ...seriesSharing(
          {
            protocolName: "ABD LIVER MRE",
            sequenceVariant: "SS\\SK",
            scanOptions: "FAST_GEMS\\EDR_GEMS\\SEQ_GEMS\\ACC_GEMS",
            mrAcquisitionType: "3D",
            trMs: 6.4,
            flipDeg: 12,
          },
          ["t1_in", 4, "InPhase: AX LAVA-Flex", T1_IN(2.3, ["DERIVED", "PRIMARY", "IN_PHASE"])],
          ["t1_opp", 5, "OutPhase: AX LAVA-Flex", T1_OPP(1.15, ["DERIVED", "PRIMARY", "OUT_PHASE"])],
        ),
      );
    }
    const ss = year < 2018;
    out.push(
      base("t2", 7, ss ? "AX SSFSE T2" : "AX T2 FRFSE FS RTr", {
        echoes: [{ teMs: ss ? 85 : 88, role: "t2", imageType: other }],
        scanningSequence: "SE",
        sequenceVariant: "SK",
        scanOptions: ss ? "FAST_GEMS\\SS_GEMS\\FILTERED_GEMS" : "FAST_GEMS\\FS\\RESP_GEMS",
        trMs: ss ? 1600 : 4200,
        flipDeg: 90,
        echoTrainLength: ss ? 1 : 18,
        fatSat: !ss,
        singleShot: ss,
      }),
      dwi(9, "AX DWI B50-800", NONE(64, ["ORIGINAL", "PRIMARY", "OTHER"]), {
        scanningSequence: "EP\\SE",
        sequenceVariant: "SK\\SS",
        scanOptions: "EPI_GEMS\\FS",
        trMs: 5000,
      }),
      ...seriesSharing(
        { scanningSequence: "GR", sequenceVariant: "SP", trMs: 50, flipDeg: 30 },
        ["mre_magnitude", 11, "AX MRE", NONE(20, ["ORIGINAL", "PRIMARY", "OTHER"])],
        ["mre_wave", 1100, "AX MRE PHASE", NONE(20, ["ORIGINAL", "PRIMARY", "OTHER"])],
      ),
      postContrast(13, "AX LAVA POST 20MIN", NONE(1.6, ["ORIGINAL", "PRIMARY", "OTHER"]), "EOVIST", {
        sequenceVariant: "SS\\SK",
        scanOptions: "FAST_GEMS\\EDR_GEMS\\ACC_GEMS\\FS",
        trMs: 3.8,
        flipDeg: 12,
      }),
    );
    return out;
  },
};

const philipsC: SiteProfile = {
  id: "site-c",
  institution: "St Brigid Children's Hospital",
  station: "PHILIPS-7TQ2K3",
  vendor: "Philips",
  weight: 0.2,
  pediatricShare: 0.36,
  maleShare: 0.48,
  adultAgeMean: 30,
  severityMean: -0.7,
  fieldT: 3,
  stack: { rows: 104, cols: 104, fovMm: 340, slices: 12, thicknessMm: 6, spacingMm: 7 },
  snrT1: 30,
  snrT2: 24,
  level: 1300,
  bitsStored: 12,
  signed: false,
  rescaleSlope: 1.52503052503053,
  transferSyntax: "explicit",
  patientPosition: "HFS",
  instanceOrder: "ascending",
  biasStrength: 0.35,
  ghostProb: 0.2,
  softwareVersion: (y) => (y < 2017 ? "5.1.7\\5.1.7.2" : "5.6.1\\5.6.1.2"),
  manufacturer: () => "Philips Medical Systems",
  model: (y) => (y < 2015 ? "Achieva" : "Ingenia"),
  patientIdFormat: (n) => `SB${pad(n, 7)}`,
  accessionFormat: (n) => `R${pad(n % 100_000_000, 8)}`,
  series() {
    const ffe = ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"];
    const se = ["ORIGINAL", "PRIMARY", "M_SE", "M", "SE"];
    return [
      base("localizer", 101, "SURVEY", {
        echoes: [NONE(2.3, ffe)],
        protocolName: "SURVEY",
        trMs: 4.6,
        flipDeg: 15,
      }),
      base("t1_dual", 501, "T1 FFE in/out phase", {
        echoes: [
          T1_OPP(1.15, ["ORIGINAL", "PRIMARY", "T1", "NONE"]),
          T1_IN(2.3, ["ORIGINAL", "PRIMARY", "T1", "NONE"]),
        ],
        protocolName: "T1_FFE_IP_OP",
        trMs: 160,
        flipDeg: 70,
        enhanced: true,
      }),
      base("t2", 601, "T2W_SPAIR", {
        echoes: [{ teMs: 80, role: "t2", imageType: ["ORIGINAL", "PRIMARY", "T2", "NONE"] }],
        protocolName: "T2W_SPAIR",
        scanningSequence: "SE",
        sequenceVariant: "SK",
        scanOptions: "FS",
        trMs: 1300,
        flipDeg: 90,
        echoTrainLength: 72,
        fatSat: true,
        singleShot: true,
        enhanced: true,
      }),
      dwi(701, "DWI_b50_800", NONE(58, ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]), {
        protocolName: "DWI",
        scanningSequence: "SE",
        sequenceVariant: "SK",
        scanOptions: "FS",
        trMs: 4000,
        echoTrainLength: 41,
      }),
      ...seriesSharing(
        { protocolName: "MRE", trMs: 50, flipDeg: 20 },
        ["mre_magnitude", 901, "MRE_M", NONE(20, se)],
        ["mre_wave", 902, "MRE_P", NONE(20, ["ORIGINAL", "PRIMARY", "PHASE MAP", "P", "FFE"])],
      ),
      postContrast(1101, "T1 THRIVE +C", NONE(1.8, ["ORIGINAL", "PRIMARY", "T1", "NONE"]), "Dotarem", {
        protocolName: "THRIVE_POST",
        sequenceVariant: "SK",
        scanOptions: "FS",
        trMs: 3.9,
        flipDeg: 10,
      }),
    ];
  },
};

const canonD: SiteProfile = {
  id: "site-d",
  institution: "Eastbay Community Hospital",
  station: "ECH_MR1",
  vendor: "Canon",
  weight: 0.2,
  pediatricShare: 0.04,
  maleShare: 0.47,
  adultAgeMean: 50,
  severityMean: -0.7,
  fieldT: 1.5,
  stack: { rows: 96, cols: 112, fovMm: 380, slices: 14, thicknessMm: 7, spacingMm: 8 },
  snrT1: 22,
  snrT2: 18,
  level: 1500,
  bitsStored: 16,
  signed: false,
  transferSyntax: "implicit",
  patientPosition: "FFS",
  instanceOrder: "interleaved",
  biasStrength: 0.3,
  ghostProb: 0.2,
  softwareVersion: (y) => (y < 2018 ? "V4.50*R010" : "V6.0*R003"),
  manufacturer: (y) => (y < 2018 ? "TOSHIBA_MEC" : "CANON_MEC"),
  model: (y) => (y < 2018 ? "Vantage Titan" : "Vantage Orian"),
  patientIdFormat: (n) => `E${pad(n, 8)}`,
  accessionFormat: (n, date) => `${date.replaceAll("-", "").slice(0, 6)}${pad(n % 10_000, 4)}`,
  series() {
    const it = ["ORIGINAL", "PRIMARY", "OTHER"];
    return [
      base("localizer", 1, "Locator", {
        echoes: [NONE(2, ["ORIGINAL", "PRIMARY", "LOCALIZER"])],
        trMs: 4.5,
        flipDeg: 45,
      }),
      // Two series with the same name: only the echo time tells them apart.
      ...seriesSharing(
        { protocolName: "Liver FFE2D", trMs: 165, flipDeg: 75 },
        ["t1_opp", 3, "FFE2D DUAL ECHO", T1_OPP(2.3, it)],
        ["t1_in", 4, "FFE2D DUAL ECHO", T1_IN(4.6, it)],
      ),
      base("t2", 5, "FASE2D T2 FS BH", {
        echoes: [{ teMs: 80, role: "t2", imageType: it }],
        protocolName: "Liver FASE",
        scanningSequence: "SE",
        sequenceVariant: "SK\\SP",
        scanOptions: "FS\\SFT",
        trMs: 1500,
        flipDeg: 90,
        echoTrainLength: 96,
        fatSat: true,
        singleShot: true,
      }),
      dwi(7, "DWI b50 b800", NONE(70, ["ORIGINAL", "PRIMARY", "OTHER"]), {
        scanningSequence: "EP",
        sequenceVariant: "SK",
        scanOptions: "FS",
        trMs: 5500,
      }),
      ...seriesSharing(
        { trMs: 50, flipDeg: 25 },
        ["mre_magnitude", 9, "MRE MAG", NONE(21, it)],
        ["mre_wave", 10, "MRE PHASE", NONE(21, ["ORIGINAL", "PRIMARY", "PHASE"])],
      ),
      postContrast(12, "QUICK3D FS POST", NONE(1.9, it), "MAGNEVIST", {
        sequenceVariant: "SK\\SP",
        scanOptions: "FS",
        trMs: 4.2,
        flipDeg: 12,
      }),
    ];
  },
};

const siemensE: SiteProfile = {
  ...siemensA,
  id: "site-e",
  institution: "Westgate Medical Centre",
  station: "MRC40612",
  weight: 0.2,
  pediatricShare: 0.05,
  severityMean: -0.5,
  fieldT: 3,
  stack: { rows: 104, cols: 128, fovMm: 380, slices: 14, thicknessMm: 6, spacingMm: 7.2 },
  level: 1100,
  instanceOrder: "ascending",
  biasStrength: 0.45,
  model: () => "Skyra",
  softwareVersion: () => "syngo MR E11",
  patientIdFormat: (n) => `W${pad(n, 7)}`,
  accessionFormat: (n) => `WG${pad(n % 10_000_000, 7)}`,
  series(year, pick) {
    // 3T: Dixon from the start, echo times of 3T.
    const specs = siemensA.series(Math.max(year, 2017), pick);
    for (const s of specs) {
      if (s.kind === "t1_opp") s.echoes = [T1_OPP(1.23, s.echoes[0].imageType)];
      if (s.kind === "t1_in") s.echoes = [T1_IN(2.46, s.echoes[0].imageType)];
    }
    return specs;
  },
};

export const SITE_PROFILES: readonly SiteProfile[] = [siemensA, geB, philipsC, canonD, siemensE];
export const DEFAULT_SITE_COUNT = 4;

/** Resolves `--sites`: a count (first K profiles) or a comma-separated list of profile ids. */
export function resolveSites(spec: string | number | undefined): SiteProfile[] | string {
  if (spec === undefined) return SITE_PROFILES.slice(0, DEFAULT_SITE_COUNT);
  const s = String(spec).trim();
  if (/^-?\d+$/.test(s)) {
    const k = Number(s);
    if (k < 1 || k > SITE_PROFILES.length)
      return `--sites must be between 1 and ${SITE_PROFILES.length}, got ${s}`;
    return SITE_PROFILES.slice(0, k);
  }
  const out: SiteProfile[] = [];
  for (const id of s.split(",").map((x) => x.trim())) {
    const p = SITE_PROFILES.find((x) => x.id === id);
    if (!p) return `unknown site profile '${id}' (known: ${SITE_PROFILES.map((x) => x.id).join(", ")})`;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
