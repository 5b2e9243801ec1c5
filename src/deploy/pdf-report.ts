// predict --pdf: a one-page A4 report of an exam's prediction (what the SR holds, for a reader without an
// SR viewer), made with jsPDF, and its DICOM Encapsulated PDF in the exam's own study. The numbers are
// the report's, printed with fixed decimals; the figure is the exam's PNG.
import { jsPDF } from "jspdf";
import type { DicomResultsInput } from "./dicom-results.ts";

const MARGIN_MM = 15;
const PAGE_WIDTH_MM = 210;

/** A DICOM person name as one reads it ("DOE^JANE" -> "DOE, JANE"). */
function personName(v: unknown): string {
  const raw = Array.isArray(v) ? v[0] : v;
  const s =
    typeof raw === "object" && raw !== null
      ? String((raw as { Alphabetic?: string }).Alphabetic ?? "")
      : String(raw ?? "");
  return s.split("^").filter(Boolean).join(", ");
}

const dicomDateShown = (d: unknown) =>
  typeof d === "string" && /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : "";

/** The report as a PDF file (one A4 page). */
export function buildReportPdf(input: DicomResultsInput, figurePng?: Uint8Array): Uint8Array {
  const { report, bundle, study } = input;
  const doc = new jsPDF({ unit: "mm", format: "a4", compress: true });
  doc.setProperties({
    title: `liverstiff prediction ${report.accession ?? report.studyInstanceUid}`,
    creator: `liverstiff ${input.softwareVersion}`,
    subject: input.notice,
  });
  let y = MARGIN_MM + 4;
  const line = (text: string, size = 10, style: "normal" | "bold" = "normal", gapMm = 5) => {
    doc.setFont("helvetica", style);
    doc.setFontSize(size);
    for (const part of doc.splitTextToSize(text, PAGE_WIDTH_MM - 2 * MARGIN_MM) as string[]) {
      doc.text(part, MARGIN_MM, y);
      y += gapMm;
    }
  };
  line("Liver stiffness prediction from non-contrast MRI", 15, "bold", 7);
  line(input.notice, 9, "bold");
  y += 2;
  line(
    `Patient: ${personName(study.PatientName) || "(no name)"}   ID: ${String(study.PatientID ?? "")}   ` +
      `Accession: ${report.accession ?? ""}   Study date: ${dicomDateShown(study.StudyDate)}`,
    9,
  );
  line(`Study Instance UID: ${report.studyInstanceUid}`, 8);
  y += 2;
  if (report.status !== "predicted" || !report.thresholds || !report.category) {
    line(`Not predicted: ${report.reason ?? "the exam could not be used"}`, 12, "bold");
  } else {
    line(`Category: ${report.category.label}`, 13, "bold", 6);
    const k = report.kpaPred;
    if (k)
      line(
        `Predicted stiffness: ${k.value.toFixed(2)} kPa` +
          (k.predictionInterval
            ? ` (80% prediction interval ${k.predictionInterval[0].toFixed(2)} to ${k.predictionInterval[1].toFixed(2)} kPa)`
            : ""),
        10,
      );
    y += 2;
    thresholdTable(doc, report.thresholds, y);
    y += 6 * (report.thresholds.length + 1) + 4;
  }
  if (report.warnings.length > 0) {
    line("Warnings", 10, "bold");
    for (const w of report.warnings) line(`- ${w.message}`, 8, "normal", 4);
    y += 2;
  }
  if (figurePng) y = figure(doc, figurePng, y);
  line(
    `Model: ${bundle.name} (recipe ${bundle.recipe}), created ${bundle.createdAt}, bundle digest sha256:${bundle.digest}. ` +
      `Software: liverstiff ${input.softwareVersion}.`,
    7,
    "normal",
    3.5,
  );
  return new Uint8Array(doc.output("arraybuffer"));
}

function thresholdTable(
  doc: jsPDF,
  thresholds: NonNullable<DicomResultsInput["report"]["thresholds"]>,
  top: number,
) {
  const columns = [
    { title: "Threshold", x: 0 },
    { title: "Probability", x: 30 },
    { title: "Fold-model range", x: 60 },
    { title: "Cut-off", x: 105 },
    { title: "Call", x: 130 },
  ];
  doc.setFontSize(9);
  doc.setFont("helvetica", "bold");
  for (const c of columns) doc.text(c.title, MARGIN_MM + c.x, top);
  doc.setFont("helvetica", "normal");
  thresholds.forEach((t, i) => {
    const y = top + 6 * (i + 1);
    const cells = [
      `>= ${t.thresholdKpa.toFixed(1)} kPa`,
      t.probability.toFixed(3),
      `${t.interval[0].toFixed(3)} to ${t.interval[1].toFixed(3)}`,
      t.cutoff.toFixed(3),
      t.positive ? "positive" : "negative",
    ];
    cells.forEach((text, j) => {
      doc.text(text, MARGIN_MM + columns[j]!.x, y);
    });
  });
}

/** The figure at the page's width (or less, to keep its aspect and the page); returns the y below it. */
function figure(doc: jsPDF, png: Uint8Array, top: number): number {
  const props = doc.getImageProperties(png);
  const maxW = PAGE_WIDTH_MM - 2 * MARGIN_MM;
  const maxH = 297 - MARGIN_MM - 20 - top;
  if (maxH < 20) return top;
  const scale = Math.min(maxW / props.width, maxH / props.height);
  doc.addImage(png, "PNG", MARGIN_MM, top, props.width * scale, props.height * scale);
  return top + props.height * scale + 5;
}
