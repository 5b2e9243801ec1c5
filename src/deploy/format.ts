// The terminal form of a prediction report: one block per exam, readable without the JSON.
import type { ExamReport, PredictReport } from "./predict.ts";

// Probabilities and cut-offs in the same unit (percent, one decimal) so they can be compared by eye.
const pct = (p: number) => `${(p * 100).toFixed(1)}%`;

function kpaText(k: NonNullable<ExamReport["kpaPred"]>): string {
  const pi = k.predictionInterval;
  const range = pi
    ? `80% prediction interval ${pi[0].toFixed(2)}-${pi[1].toFixed(2)}`
    : `fold models ${k.interval[0].toFixed(2)}-${k.interval[1].toFixed(2)}`;
  const verdict = k.agreesWithCategory ? "" : pi ? ", the category OUTSIDE it" : " OUTSIDE the category";
  return `${k.value.toFixed(2)} kPa (${range})${verdict}`;
}

export function formatPredictions(report: PredictReport): string {
  const lines: string[] = [];
  const b = report.bundle;
  lines.push(
    `model: ${b.recipe} (${b.members} fold models, encoder ${b.encoder}${b.cv10Auc3_0 !== undefined ? `, cv10 AUROC at 3.0 kPa ${b.cv10Auc3_0.toFixed(3)}` : ""})`,
  );
  const sc = report.seriesChoice;
  lines.push(
    `series chosen by: ${sc.rules === "bundle" ? "the bundle's rules (as in training)" : `rules ${sc.rules}${sc.rulesAsTrained ? " (the same as training's)" : ", NOT the rules training used"}`}; overrides: ${sc.overrides.length ? sc.overrides.join(" + ") : "none"}`,
  );
  lines.push(`${report.intendedUse}`);
  for (const e of report.exams) {
    lines.push("");
    const id = e.accession ? `${e.accession} (${e.examId})` : e.examId;
    const scanner = [
      e.scanner.vendor,
      e.scanner.model,
      e.scanner.fieldStrengthT !== undefined ? `${e.scanner.fieldStrengthT} T` : undefined,
    ]
      .filter(Boolean)
      .join(" ");
    lines.push(`exam ${id}${e.studyDate ? `, ${e.studyDate}` : ""}${scanner ? `, ${scanner}` : ""}`);
    for (const [role, s] of Object.entries(e.series))
      lines.push(
        `  ${role.padEnd(7)} series ${s.seriesNumber ?? "?"} ${s.description ?? ""}${s.dims ? ` ${s.dims.join("x")}` : ""}`,
      );
    if (e.status !== "predicted") {
      lines.push(`  NOT PREDICTED: ${e.reason}`);
      continue;
    }
    lines.push(
      `  ${"threshold".padEnd(10)}  ${"P(>=t)".padStart(6)}   ${"fold models".padEnd(13)}  ${"cut-off".padStart(7)}  call`,
    );
    for (const t of e.thresholds ?? [])
      lines.push(
        `  >= ${t.thresholdKpa.toFixed(1)} kPa  ${pct(t.probability).padStart(6)}   ${`${pct(t.interval[0])}-${pct(t.interval[1])}`.padEnd(13)}  ${pct(t.cutoff).padStart(7)}  ${t.positive ? (t.counted ? "above" : "above, not counted (a lower threshold is below)") : "below"}`,
      );
    const c = e.category!;
    const relation = c.thresholdKpa === null ? "below" : "above";
    lines.push(
      `  category: ${c.label} (P ${pct(c.probability)} ${relation} cut-off ${pct(c.cutoff)})${e.kpaPred ? `; predicted ${kpaText(e.kpaPred)}` : ""}`,
    );
    for (const w of e.warnings) lines.push(`  warning [${w.code}]: ${w.message}`);
    if (e.png) lines.push(`  figure: ${e.png}`);
    if (e.dicom)
      lines.push(
        `  DICOM: SR ${e.dicom.sr}${e.dicom.sc ? `, Secondary Capture ${e.dicom.sc}` : ""}${e.dicom.pdf ? `, PDF ${e.dicom.pdf}` : ""}`,
      );
  }
  for (const i of report.inputs) if (i.problem) lines.push("", `input ${i.path}: ${i.problem}`);
  lines.push(
    "",
    `${report.counts.predicted} of ${report.counts.exams} exams predicted${report.counts.unusable ? `, ${report.counts.unusable} not usable` : ""} in ${report.timings.totalSeconds.toFixed(1)} s`,
  );
  return lines.join("\n");
}
