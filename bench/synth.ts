// Synthetic cohort generation speed and size: `npm run bench -- synth [exams]` (default 60 exams, 2 workers).
// Last line: one JSON object.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../src/synth/index.ts";

const exams = Number(process.argv[2] ?? 60);
const dir = mkdtempSync(join(tmpdir(), "ls-bench-synth-"));
try {
  const cpu0 = process.cpuUsage();
  const r = await synthesize({ out: join(dir, "cohort"), exams, workers: 2 });
  const cpu = process.cpuUsage(cpu0);
  const perExamMb = r.bytes / r.exams / 1e6;
  console.log(
    JSON.stringify({
      bench: "synth",
      exams: r.exams,
      seconds: Math.round(r.seconds * 100) / 100,
      exams_per_second: Math.round((r.exams / r.seconds) * 100) / 100,
      process_cpu_s: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
      mb_per_exam: Math.round(perExamMb * 1000) / 1000,
      projected_600_exams_mb: Math.round(perExamMb * 600),
      files: r.files,
      oracle_auc_ge_3_0: r.summary.oracleAuc.oracle_auc_ge_3_0,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
