import type { Command } from "commander";
import { LiverstiffError } from "../../core/index.ts";
import { textTable } from "../table.ts";

export function register(program: Command): void {
  program
    .command("inspect")
    .description(
      "Show what ingest found: without EXAM, every exam with its status (usable or the exclusion reason); " +
        "with EXAM, its series, the role the rules gave each and why, and which one was chosen.",
    )
    .argument("<workdir>", "work directory written by liverstiff ingest")
    .argument("[exam]", "exam id (ex_...), accession number or StudyInstanceUID")
    .option("--json", "print JSON")
    .action(async (workdir: string, examArg: string | undefined, opts: { json?: boolean }) => {
      const { existsSync } = await import("node:fs");
      const { join } = await import("node:path");
      const { openCatalog, CATALOG_FILE } = await import("../../cohort/index.ts");
      if (!existsSync(join(workdir, CATALOG_FILE))) {
        throw new LiverstiffError("no catalog here: run liverstiff ingest first", { workdir });
      }
      const cat = openCatalog(workdir);
      try {
        const exams = cat.exams();
        if (!examArg) {
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ exams, exclusions: cat.exclusions() })}\n`);
            return;
          }
          const rows = [["accession", "exam", "date", "site", "scanner", "roles", "kPa", "status"]];
          for (const e of exams) {
            rows.push([
              e.accessionNumber ?? "-",
              e.examId,
              e.studyDate ?? "",
              e.site,
              `${e.vendor ?? ""} ${e.fieldStrengthT ? `${e.fieldStrengthT}T` : ""}`.trim(),
              e.roles.join(",") || "-",
              e.kpa === undefined ? "-" : e.kpa.toFixed(2),
              e.exclusionReason ? `excluded: ${e.exclusionReason}` : "usable",
            ]);
          }
          process.stdout.write(`${textTable(rows)}\n`);
          const usable = exams.filter((e) => !e.exclusionReason).length;
          const other = cat.exclusions().filter((x) => x.scope === "file" || x.scope === "label");
          process.stdout.write(
            `\n${exams.length} exams, ${usable} usable, ${exams.length - usable} excluded\n`,
          );
          if (other.length > 0) {
            process.stdout.write(`\nfile and label-row problems:\n`);
            for (const x of other) process.stdout.write(`  ${x.scope} ${x.ref}: ${x.code}: ${x.reason}\n`);
          }
          return;
        }
        const exam = exams.find(
          (e) => e.examId === examArg || e.accessionNumber === examArg || e.studyInstanceUid === examArg,
        );
        if (!exam) throw new LiverstiffError("no such exam in the catalog", { workdir, exam: examArg });
        const series = cat.series(exam.examId);
        const excl = cat.exclusions({ examId: exam.examId });
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ exam, series, exclusions: excl, prepared: cat.preparedFor(exam.examId) })}\n`,
          );
          return;
        }
        const out: string[] = [];
        out.push(
          `exam ${exam.examId}  (study ${exam.studyInstanceUid}${exam.accessionNumber ? `, accession ${exam.accessionNumber}` : ""})`,
        );
        out.push(
          `  date ${exam.studyDate ?? "?"}  site ${exam.site} (${exam.siteSource})  scanner ${[exam.vendor, exam.model, exam.fieldStrengthT ? `${exam.fieldStrengthT} T` : ""].filter(Boolean).join(" ")}`,
        );
        out.push(
          `  patient ${exam.patientKey}  age ${exam.ageYears ?? "?"}  sex ${exam.sex ?? "?"}  kPa ${exam.kpa ?? "-"}${exam.labelLine ? ` (labels line ${exam.labelLine})` : ""}`,
        );
        out.push(`  status: ${exam.exclusionReason ? `excluded: ${exam.exclusionReason}` : "usable"}`);
        out.push("");
        const rows = [["#", "description", "TE", "frames", "geometry", "role", "picked", "why"]];
        for (const s of series) {
          rows.push([
            String(s.seriesNumber ?? "?"),
            (s.description ?? "").slice(0, 36),
            s.echoTimeMs === undefined ? "" : `${s.echoTimeMs}`,
            String(s.frames),
            s.dims ? `${s.dims.join("x")} ${s.orientation ?? ""}` : "",
            s.role ?? "-",
            s.chosen ? "yes" : "",
            [...s.reasons, ...(s.note ? [s.note] : [])].join("; "),
          ]);
        }
        out.push(textTable(rows));
        const other = excl.filter((x) => x.scope !== "exam");
        if (other.length > 0) {
          out.push("", "problems:");
          for (const x of other) out.push(`  ${x.scope} ${x.ref}: ${x.reason}`);
        }
        const prepared = cat.preparedFor(exam.examId);
        if (prepared.length > 0) {
          out.push("", "prepared inputs:");
          for (const p of prepared) out.push(`  ${p.prepName}  ${p.path}`);
        }
        process.stdout.write(`${out.join("\n")}\n`);
      } finally {
        cat.close();
      }
    });
}
