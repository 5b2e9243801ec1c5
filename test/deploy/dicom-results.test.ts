// DICOM results of predict (src/deploy/dicom-results.ts): the Comprehensive SR and the figure's Secondary
// Capture, validated by dciodvfy (dicom3tools: `bash scripts/setup.sh --test` installs it) with 0 errors,
// read back with dcmjs: the numbers equal the report's, the study and patient are the source's, the
// references are exactly the source instances the model read, the pixels are the PNG's. First from a
// report fixture and a real MR file, then end to end through `liverstiff predict --dicom-out`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inflateSync } from "node:zlib";
import dcmjs, { type NaturalDataset } from "dcmjs";
import { PNG } from "pngjs";
import {
  buildPdfDataset,
  buildReportPdf,
  buildScDataset,
  buildSrDataset,
  COMPREHENSIVE_SR,
  type DicomResultsInput,
  ENCAPSULATED_PDF,
  type ExamReport,
  INTENDED_USE,
  type PredictReport,
  part10,
  readStudyAttributes,
  SECONDARY_CAPTURE,
} from "../../src/deploy/index.ts";
import { assertCliOk, ingestCohortArgs, ROOT, runCli } from "../fixtures/cli.ts";
import { smallRecipe } from "../helpers/recipes.ts";

const SOURCE = join(ROOT, "test", "fixtures", "dicom-samples", "ge_mr750_brain_t1.dcm");
const PATIENT_STUDY = [
  "PatientName",
  "PatientID",
  "PatientBirthDate",
  "PatientSex",
  "StudyInstanceUID",
  "StudyDate",
  "StudyTime",
  "StudyID",
  "AccessionNumber",
  "ReferringPhysicianName",
];

/** An attribute's value, empty ones (absent, "", [] as dcmjs reads an empty PN) as "". */
function attribute(ds: NaturalDataset, keyword: string): unknown {
  const v = ds[keyword];
  return v === undefined || v === "" || (Array.isArray(v) && v.length === 0) ? "" : v;
}

const run = (args: string[]) => runCli(args);
const ok = assertCliOk;

/** dciodvfy's errors and warnings for a file; fails (never skips) when dicom3tools is missing. */
function dciodvfy(file: string): { errors: string[]; warnings: string[] } {
  const r = spawnSync("dciodvfy", [file], { encoding: "utf8" });
  if (r.error)
    assert.fail(
      `dciodvfy (dicom3tools) is not installed: bash scripts/setup.sh --test installs it (${r.error})`,
    );
  const lines = `${r.stdout}\n${r.stderr}`.split("\n");
  return {
    errors: lines.filter((l) => l.startsWith("Error")),
    warnings: lines.filter((l) => l.startsWith("Warning")),
  };
}

/** Warnings dciodvfy gives that are expected: the private coding scheme, and the source's own values. */
const EXPECTED_WARNING = /Unrecognized defined term <99LIVERSTIFF>|Retired Person Name form/;

function assertValid(file: string): void {
  const { errors, warnings } = dciodvfy(file);
  assert.deepEqual(errors, [], `dciodvfy errors for ${file}`);
  assert.deepEqual(
    warnings.filter((w) => !EXPECTED_WARNING.test(w)),
    [],
    `unexpected dciodvfy warnings for ${file}`,
  );
}

function readDataset(file: string): NaturalDataset {
  dcmjs.log.setLevel("silent"); // the sample's own odd values (an AS of 2 characters)
  const b = readFileSync(file);
  const dict = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

type Item = NaturalDataset & { ContentSequence?: Item[] };
const concept = (i: Item) => (i.ConceptNameCodeSequence as NaturalDataset[] | undefined)?.[0]?.CodeValue;
const children = (i: Item): Item[] => i.ContentSequence ?? [];
const find = (items: Item[], code: string) => items.filter((i) => concept(i) === code);
const one = (items: Item[], code: string) => {
  const found = find(items, code);
  assert.equal(found.length, 1, `one item ${code}`);
  return found[0]!;
};
const numValue = (i: Item) => {
  const mv = (i.MeasuredValueSequence as NaturalDataset[])[0]!;
  return { fp: mv.FloatingPointValue as number, ds: Number(mv.NumericValue), unit: unitOf(mv) };
};
const unitOf = (mv: NaturalDataset) =>
  (mv.MeasurementUnitsCodeSequence as NaturalDataset[])[0]!.CodeValue as string;
const codeValue = (i: Item) => (i.ConceptCodeSequence as NaturalDataset[])[0]!.CodeValue as string;
const derivation = (i: Item) => codeValue(one(children(i), "121401"));

/** The SR's numbers, as a predict report states them. */
function srNumbers(sr: NaturalDataset) {
  const root = sr as Item;
  const measurements = one(children(root), "126010");
  const groups = find(children(measurements), "125007");
  const thresholds = groups
    .filter((g) => find(children(g), "KPA_THRESHOLD").length === 1)
    .map((g) => {
      const ps = find(children(g), "P_AT_OR_ABOVE");
      const by = (d: string) => numValue(ps.find((p) => derivation(p) === d)!);
      for (const p of ps) assert.equal(numValue(p).unit, "%");
      return {
        thresholdKpa: numValue(one(children(g), "KPA_THRESHOLD")).fp,
        probability: by("373098007").fp / 100,
        probabilityDs: by("373098007").ds / 100,
        interval: [by("255605001").fp / 100, by("56851009").fp / 100],
        cutoff: numValue(one(children(g), "CUTOFF")).fp / 100,
        positive: codeValue(one(children(g), "ABOVE_CUTOFF")) === "373066001",
        counted: codeValue(one(children(g), "COUNTED")) === "373066001",
      };
    });
  const kpaGroup = groups.find((g) => find(children(g), "KPA_PRED").length > 0);
  const kpa = kpaGroup && {
    items: find(children(kpaGroup), "KPA_PRED"),
    low: numValue(one(children(kpaGroup), "PI80_LOW")),
    high: numValue(one(children(kpaGroup), "PI80_HIGH")),
  };
  const qualitative = one(children(root), "C0034375");
  return {
    thresholds,
    kpa,
    category: codeValue(one(children(qualitative), "CATEGORY")),
    warnings: find(children(qualitative), "WARNING").map((w) => w.TextValue),
    notice: one(children(qualitative), "INTENDED_USE").TextValue,
    observer: children(root).filter((i) => i.RelationshipType === "HAS OBS CONTEXT"),
  };
}

function assertNumbersEqual(sr: NaturalDataset, e: ExamReport): void {
  const got = srNumbers(sr);
  assert.equal(got.thresholds.length, 5);
  for (const [k, t] of e.thresholds!.entries()) {
    const g = got.thresholds[k]!;
    assert.equal(g.thresholdKpa, t.thresholdKpa);
    assert.ok(Math.abs(g.probability - t.probability) < 1e-6, `P ${g.probability} vs ${t.probability}`);
    assert.ok(Math.abs(g.probabilityDs - t.probability) < 1e-6, "the DS value too");
    assert.ok(Math.abs(g.interval[0]! - t.interval[0]) < 1e-6);
    assert.ok(Math.abs(g.interval[1]! - t.interval[1]) < 1e-6);
    assert.ok(Math.abs(g.cutoff - t.cutoff) < 1e-6);
    assert.equal(g.positive, t.positive);
    assert.equal(g.counted, t.counted);
  }
  const k = e.kpaPred!;
  const byDerivation = (d?: string) =>
    numValue(
      got.kpa!.items.find((i) =>
        d ? find(children(i), "121401").length && derivation(i) === d : !i.ContentSequence,
      )!,
    );
  assert.equal(byDerivation().unit, "kPa");
  assert.ok(Math.abs(byDerivation().fp - k.value) < 1e-6);
  assert.ok(Math.abs(byDerivation("255605001").fp - k.interval[0]) < 1e-6);
  assert.ok(Math.abs(byDerivation("56851009").fp - k.interval[1]) < 1e-6);
  assert.ok(Math.abs(got.kpa!.low.fp - k.predictionInterval![0]) < 1e-6);
  assert.ok(Math.abs(got.kpa!.high.fp - k.predictionInterval![1]) < 1e-6);
  const label = e.category!.label;
  assert.equal(got.category, `${label.startsWith(">=") ? "GE" : "LT"}${label.split(" ")[1]}KPA`);
  assert.deepEqual(
    got.warnings,
    e.warnings.map((w) => `${w.code}: ${w.message}`),
  );
  assert.equal(got.notice, INTENDED_USE);
}

/** The SOP instances the SR references, per series: evidence and image library must agree. */
function referencedInstances(sr: NaturalDataset): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const evidence = sr.CurrentRequestedProcedureEvidenceSequence as NaturalDataset[];
  assert.equal(evidence.length, 1);
  assert.equal(evidence[0]!.StudyInstanceUID, sr.StudyInstanceUID);
  const series = evidence[0]!.ReferencedSeriesSequence as NaturalDataset[];
  assert.equal(new Set(series.map((s) => s.SeriesInstanceUID)).size, series.length, "each series once");
  for (const s of series)
    out.set(
      s.SeriesInstanceUID as string,
      (s.ReferencedSOPSequence as NaturalDataset[]).map((r) => r.ReferencedSOPInstanceUID as string).sort(),
    );
  const library = one(children(sr as Item), "111028");
  const inLibrary = children(library)
    .flatMap((g) => children(g).filter((i) => i.ValueType === "IMAGE"))
    .map((i) => (i.ReferencedSOPSequence as NaturalDataset[])[0]!.ReferencedSOPInstanceUID as string)
    .sort();
  assert.deepEqual([...new Set(inLibrary)], [...out.values()].flat().sort());
  return out;
}

function scMatchesPng(sc: NaturalDataset, png: Uint8Array): void {
  const img = PNG.sync.read(Buffer.from(png));
  assert.equal(sc.SOPClassUID, SECONDARY_CAPTURE);
  assert.equal(sc.Rows, img.height);
  assert.equal(sc.Columns, img.width);
  assert.equal(sc.PhotometricInterpretation, "RGB");
  assert.equal(sc.BurnedInAnnotation, "YES");
  const pixels = new Uint8Array((sc.PixelData as ArrayBuffer[])[0]!);
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < img.data.length; i += 4, j += 3) {
    assert.equal(img.data[i + 3], 255, "the figure is opaque");
    rgb.set(img.data.subarray(i, i + 3), j);
  }
  assert.ok(
    Buffer.from(pixels.subarray(0, rgb.length)).equals(Buffer.from(rgb)),
    "pixels equal the PNG's RGB",
  );
}

function fixtureReport(studyInstanceUid: string): ExamReport {
  const probabilities = [0.912345678912, 0.7, 0.55, 0.31, 0.1];
  return {
    examId: "ex-1",
    accession: "ACC 1",
    studyInstanceUid,
    inputs: [],
    scanner: {},
    status: "predicted",
    series: {},
    thresholds: [2.5, 3, 3.5, 4, 5].map((thresholdKpa, k) => ({
      thresholdKpa,
      probability: probabilities[k]!,
      interval: [probabilities[k]! - 0.05, probabilities[k]! + 0.04],
      sd: 0.02,
      cutoff: 0.4 + k * 0.01,
      positive: probabilities[k]! > 0.4 + k * 0.01,
      counted: probabilities[k]! > 0.4 + k * 0.01,
    })),
    category: {
      label: ">= 3.5 kPa",
      thresholdKpa: 3.5,
      belowKpa: 4,
      probability: 0.55,
      cutoff: 0.42,
      ignoredKpa: [],
    },
    kpaPred: {
      value: 3.712345678,
      interval: [3.2, 4.1],
      predictionInterval: [2.91, 4.63],
      inCategory: true,
      agreesWithCategory: true,
    },
    warnings: [{ code: "age_outside", message: "the patient's age (91 years) is outside training's 20-80" }],
  };
}

function figurePng(): Uint8Array {
  const png = new PNG({ width: 33, height: 17 });
  for (let i = 0; i < png.data.length; i += 4) png.data.set([i % 251, (i >> 2) % 253, 7, 255], i);
  return PNG.sync.write(png);
}

/** The strings shown by a PDF's content streams (jsPDF writes text as "(...) Tj"; streams are deflated). */
function pdfText(pdf: Buffer): string {
  const raw = pdf.toString("latin1");
  const out: string[] = [];
  for (const m of raw.matchAll(/stream\r?\n/g)) {
    const start = m.index! + m[0].length;
    const end = raw.indexOf("endstream", start);
    const bytes = pdf.subarray(start, end);
    let content: string;
    try {
      content = inflateSync(bytes).toString("latin1");
    } catch {
      content = bytes.toString("latin1");
    }
    for (const t of content.matchAll(/\(((?:\\.|[^\\)])*)\)\s*Tj/g)) out.push(t[1]!.replace(/\\(.)/g, "$1"));
  }
  return out.join("\n");
}

describe("DICOM results from a report fixture", () => {
  let dir = "";
  let input: DicomResultsInput;
  let srFile = "";
  let scFile = "";
  let pdfFile = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ls-dicom-results-"));
    const study = readStudyAttributes(SOURCE);
    input = {
      report: fixtureReport(study.StudyInstanceUID as string),
      bundle: {
        name: "site.bundle",
        recipe: "liverstiff",
        digest: "ab".repeat(32),
        createdAt: "2026-12-03T10:11:12Z",
      },
      notice: INTENDED_USE,
      softwareVersion: "0.1.0",
      study,
      series: [
        {
          role: "t2",
          seriesInstanceUid: "1.2.3",
          sopClassUid: "1.2.840.10008.5.1.4.1.1.4",
          sopInstanceUids: ["1.2.3.1", "1.2.3.2"],
        },
        {
          role: "t1_in",
          seriesInstanceUid: "1.2.4",
          sopClassUid: "1.2.840.10008.5.1.4.1.1.4",
          sopInstanceUids: ["1.2.4.1"],
        },
      ],
    };
    srFile = join(dir, "sr.dcm");
    scFile = join(dir, "sc.dcm");
    writeFileSync(srFile, part10(buildSrDataset(input)));
    writeFileSync(scFile, part10(buildScDataset(input, figurePng())));
    pdfFile = join(dir, "pdf.dcm");
    writeFileSync(pdfFile, part10(buildPdfDataset(input, buildReportPdf(input, figurePng()))));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes dciodvfy with 0 errors (SR, Secondary Capture and Encapsulated PDF)", () => {
    assertValid(srFile);
    assertValid(scFile);
    assertValid(pdfFile);
  });

  it("puts a one-page PDF with the report's numbers into the study", () => {
    const ds = readDataset(pdfFile);
    assert.equal(ds.SOPClassUID, ENCAPSULATED_PDF);
    assert.equal(ds.Modality, "DOC");
    assert.equal(ds.StudyInstanceUID, input.study.StudyInstanceUID);
    assert.equal(ds.MIMETypeOfEncapsulatedDocument, "application/pdf");
    const doc = Buffer.from((ds.EncapsulatedDocument as ArrayBuffer[])[0]!).subarray(
      0,
      ds.EncapsulatedDocumentLength as number,
    );
    assert.equal(doc.subarray(0, 5).toString("latin1"), "%PDF-");
    assert.match(doc.subarray(-6).toString("latin1"), /%%EOF\s*$/);
    const text = pdfText(doc);
    assert.equal((doc.toString("latin1").match(/\/Type \/Page\b/g) ?? []).length, 1, "one page");
    const r = input.report;
    assert.ok(text.includes(`Category: ${r.category!.label}`), text);
    for (const t of r.thresholds!) {
      assert.ok(
        text.includes(t.probability.toFixed(3)),
        `P(>= ${t.thresholdKpa}) ${t.probability.toFixed(3)}`,
      );
      assert.ok(text.includes(t.cutoff.toFixed(3)));
    }
    assert.ok(text.includes(`${r.kpaPred!.value.toFixed(2)} kPa`));
    assert.ok(text.includes("Research use only"), "the notice");
    assert.ok(text.includes(`sha256:${input.bundle.digest}`), "the bundle");
  });

  it("holds the report's numbers, category, warnings, notice and the bundle's identity", () => {
    const sr = readDataset(srFile);
    assert.equal(sr.SOPClassUID, COMPREHENSIVE_SR);
    assert.equal(sr.Modality, "SR");
    assert.match(sr.SOPInstanceUID as string, /^2\.25\.\d+$/);
    assertNumbersEqual(sr, input.report);
    const observer = srNumbers(sr).observer;
    const textOf = (code: string) => one(observer, code).TextValue;
    assert.equal(codeValue(one(observer, "121005")), "121007");
    assert.equal(textOf("121015"), "site.bundle (recipe liverstiff)");
    assert.equal(textOf("BUNDLE_DIGEST"), `sha256:${"ab".repeat(32)}`);
    assert.equal((one(observer, "BUNDLE_CREATED").DateTime as string).trim(), "20261203101112.000000");
    const template = (sr.ContentTemplateSequence as NaturalDataset[])[0]!;
    assert.equal(template.TemplateIdentifier, "1500");
    assert.equal((sr.ConceptNameCodeSequence as NaturalDataset[])[0]!.CodeValue, "126000");
  });

  it("joins the source's study, with its patient, and references exactly the given instances", () => {
    const sr = readDataset(srFile);
    const sc = readDataset(scFile);
    const source = readDataset(SOURCE);
    for (const k of PATIENT_STUDY) {
      assert.deepEqual(attribute(sr, k), attribute(source, k), k);
      assert.deepEqual(attribute(sc, k), attribute(source, k), k);
    }
    assert.notEqual(sr.SeriesInstanceUID, sc.SeriesInstanceUID);
    assert.deepEqual(
      referencedInstances(sr),
      new Map([
        ["1.2.3", ["1.2.3.1", "1.2.3.2"]],
        ["1.2.4", ["1.2.4.1"]],
      ]),
    );
  });

  it("stores the figure's RGB pixels in the Secondary Capture", () => {
    scMatchesPng(readDataset(scFile), figurePng());
  });

  it("gives no SR for an exam that was not predicted", () => {
    assert.throws(
      () => buildSrDataset({ ...input, report: { ...input.report, status: "unusable" } }),
      /predicted/,
    );
  });
});

interface TruthSeries {
  accession: string;
  role: string;
  series_number: number;
}

describe("liverstiff predict --dicom-out", () => {
  let dir = "";
  let exams: string[] = [];
  let report: PredictReport;
  let noT2 = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ls-dicom-out-"));
    const cohort = join(dir, "cohort");
    const work = join(dir, "work");
    ok(run(["synth", "--out", cohort, "--exams", "40", "--seed", "12"]));
    smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 20, patience: 5 }, { ensemble: 1 });
    ok(run(ingestCohortArgs(cohort, work)));
    ok(
      run([
        "train",
        work,
        "--recipe",
        join(dir, "ours-small.json"),
        "--out",
        join(dir, "bundle"),
        "--resamples",
        "100",
      ]),
    );
    const site = join(cohort, "dicom", readdirSync(join(cohort, "dicom")).sort()[0]!);
    const folders = readdirSync(site).sort();
    exams = folders.slice(0, 2).map((e) => join(site, e));
    // A third exam without its T2w series: not predicted, so no SR.
    const truth: TruthSeries[] = readFileSync(join(cohort, "truth-series.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    noT2 = join(dir, "no-t2", folders[2]!);
    cpSync(join(site, folders[2]!), noT2, { recursive: true });
    for (const s of truth.filter((t) => t.accession === folders[2] && t.role === "t2"))
      rmSync(join(noT2, String(s.series_number)), { recursive: true, force: true });
    const r = run([
      "predict",
      ...exams,
      noT2,
      "--model",
      join(dir, "bundle"),
      "--json",
      join(dir, "out", "report.json"),
      "--dicom-out",
      join(dir, "out", "dicom"),
      "--pdf",
    ]);
    assert.equal(r.status, 1, `${r.stderr}\n${r.stdout}`); // the exam without T2w
    assert.match(r.stdout, /DICOM: SR .*\.sr\.dcm, Secondary Capture .*\.sc\.dcm, PDF .*\.pdf\.dcm/);
    report = JSON.parse(readFileSync(join(dir, "out", "report.json"), "utf8"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const predicted = () => report.exams.filter((e) => e.status === "predicted");

  it("writes an SR and a Secondary Capture per predicted exam, each valid for dciodvfy", () => {
    assert.equal(predicted().length, 2);
    for (const e of predicted()) {
      assert.ok(e.dicom?.sr && e.dicom.sc, `${e.accession}: ${JSON.stringify(e.warnings)}`);
      assert.ok(!e.warnings.some((w) => w.code === "dicom_not_written"));
      assertValid(e.dicom.sr);
      assertValid(e.dicom.sc);
      assert.ok(e.dicom.pdf, "--pdf: an Encapsulated PDF too");
      assertValid(e.dicom.pdf);
    }
  });

  it("gives an exam that was not predicted no DICOM results", () => {
    const bad = report.exams.find((e) => e.status !== "predicted")!;
    assert.equal(bad.dicom, undefined);
    assert.ok(!readdirSync(join(dir, "out", "dicom")).some((f) => f.startsWith(bad.accession!)));
  });

  it("holds the numbers of predict --json, in the source's study, referencing the series used", () => {
    for (const e of predicted()) {
      const sr = readDataset(e.dicom!.sr);
      assertNumbersEqual(sr, e);
      const input = exams.find((x) => e.inputs.includes(x))!;
      const sources = dicomFiles(input).map((f) => ({ file: f, ds: readDataset(f) }));
      const source = sources[0]!.ds;
      for (const k of PATIENT_STUDY) assert.deepEqual(attribute(sr, k), attribute(source, k), k);
      assert.equal(sr.StudyInstanceUID, e.studyInstanceUid);
      // Expected: every instance of the series chosen for each role the model read (one echo of a
      // dual-echo series).
      const used = Object.keys(e.attention!) as (keyof ExamReport["series"])[];
      const expected = new Map<string, string[]>();
      for (const role of used) {
        const s = e.series[role]!;
        const uids = sources
          .filter(({ ds }) => ds.SeriesInstanceUID === s.seriesInstanceUid)
          .filter(
            ({ ds }) =>
              s.echoTimeMs === undefined || ds.EchoTime === undefined || Number(ds.EchoTime) === s.echoTimeMs,
          )
          .map(({ ds }) => ds.SOPInstanceUID as string);
        expected.set(
          s.seriesInstanceUid,
          [...new Set([...(expected.get(s.seriesInstanceUid) ?? []), ...uids])].sort(),
        );
      }
      assert.deepEqual(referencedInstances(sr), expected);
    }
  });

  it("stores the exam's figure in the Secondary Capture, in the same study", () => {
    for (const e of predicted()) {
      const sc = readDataset(e.dicom!.sc!);
      assert.equal(sc.StudyInstanceUID, e.studyInstanceUid);
      scMatchesPng(sc, readFileSync(e.png!));
    }
  });

  it("turns a DICOM folder that cannot be written into a warning, never a failed prediction", () => {
    const blocker = join(dir, "a-file");
    writeFileSync(blocker, "a file where the DICOM folder should be");
    const out = join(dir, "blocked.json");
    const r = run([
      "predict",
      exams[0]!,
      "--model",
      join(dir, "bundle"),
      "--json",
      out,
      "--dicom-out",
      blocker,
    ]);
    ok(r);
    const e = (JSON.parse(readFileSync(out, "utf8")) as PredictReport).exams[0]!;
    assert.equal(e.status, "predicted");
    assert.equal(e.dicom, undefined);
    assert.match(
      e.warnings.find((w) => w.code === "dicom_not_written")?.message ?? "",
      /could not be written/,
    );
    assert.ok(existsSync(e.png!));
  });
});

function dicomFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .filter((f) => {
      const b = readFileSync(f).subarray(128, 132).toString("latin1");
      return b === "DICM";
    });
}
