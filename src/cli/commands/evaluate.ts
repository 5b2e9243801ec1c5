import { type Command, InvalidArgumentError } from "commander";
import { LiverstiffError } from "../../core/index.ts";

/** `--where column=value`, repeatable. */
function collectWhere(raw: string, previous: { column: string; value: string }[]) {
  const i = raw.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError(`expected COLUMN=VALUE, got "${raw}"`);
  return [...previous, { column: raw.slice(0, i), value: raw.slice(i + 1) }];
}

interface EvaluateOptions {
  scoreCol: string;
  labelCol?: string;
  kpaCol?: string;
  threshold?: string;
  clusterCol?: string;
  compareCol?: string;
  where: { column: string; value: string }[];
  idCol?: string;
  resamples: string;
  seed: string;
  bootstrap: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("evaluate")
    .description(
      "Diagnostic accuracy of any predictions table (another model's outputs, a radiologist's scores): AUROC with " +
        "DeLong and bootstrap CIs, the Youden cut-off with Wilson intervals, calibration, and a paired DeLong test " +
        "against a second score.",
    )
    .argument("<predictions>", "CSV file with a header row")
    .requiredOption("--score-col <column>", "score column (higher = more likely positive)")
    .option("--label-col <column>", "0/1 outcome column")
    .option("--kpa-col <column>", "measured MRE stiffness column (kPa); positive when kPa >= --threshold")
    .option("--threshold <kPa>", "stiffness threshold in kPa for --kpa-col, e.g. 3.0")
    .option("--cluster-col <column>", "patient column: the bootstrap resamples a patient's exams together")
    .option("--compare-col <column>", "second score column on the same cases: adds the paired DeLong test")
    .option(
      "--where <column=value>",
      "evaluate only the rows where the column has this value (repeatable; all must hold), e.g. --where recipe=liverstiff --where scheme=cv10",
      collectWhere,
      [],
    )
    .option(
      "--id-col <column>",
      "column unique per case; a table repeating it is refused (default: exam_id, accession, exam or id if present; none: no check)",
    )
    .option("--resamples <n>", "bootstrap resamples", "2000")
    .option("--seed <seed>", "bootstrap seed", "1")
    .option("--bootstrap <method>", "bootstrap CI method: percentile, bca or none", "percentile")
    .option("--json", "print one JSON object instead of a table")
    .action(async (file: string, opts: EvaluateOptions) => {
      const stats = await import("../../stats/index.ts");
      if (opts.labelCol === undefined && opts.kpaCol === undefined) {
        throw new LiverstiffError("evaluate needs --label-col, or --kpa-col with --threshold", { file });
      }
      if (opts.labelCol !== undefined && opts.threshold !== undefined) {
        throw new LiverstiffError("--threshold applies to --kpa-col, not to --label-col", { file });
      }
      const threshold = opts.threshold === undefined ? undefined : Number(opts.threshold);
      if (opts.kpaCol !== undefined && !(threshold !== undefined && Number.isFinite(threshold))) {
        throw new LiverstiffError("--kpa-col needs --threshold with a number of kPa", {
          file,
          threshold: String(opts.threshold),
        });
      }
      const resamples = Number(opts.resamples);
      if (!(Number.isInteger(resamples) && resamples >= 2)) {
        throw new LiverstiffError("--resamples must be an integer >= 2", { resamples: opts.resamples });
      }
      const method = opts.bootstrap;
      if (method !== "percentile" && method !== "bca" && method !== "none") {
        throw new LiverstiffError("--bootstrap must be percentile, bca or none", { bootstrap: method });
      }
      const seed = /^-?\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const table = stats.readPredictionTable(file, {
        scoreCol: opts.scoreCol,
        labelCol: opts.labelCol,
        kpaCol: opts.kpaCol,
        threshold,
        clusterCol: opts.clusterCol,
        compareCol: opts.compareCol,
        where: opts.where,
        idCol: opts.idCol === "none" ? false : opts.idCol,
      });
      const result = stats.evaluateBinary(table.labels, table.scores, {
        scores2: table.scores2,
        clusters: table.clusters,
        bootstrap: method === "none" ? false : { resamples, seed, method },
      });
      const input = {
        file,
        score_col: opts.scoreCol,
        ...(opts.labelCol !== undefined
          ? { label_col: opts.labelCol }
          : { kpa_col: opts.kpaCol, threshold_kpa: threshold }),
        ...(opts.clusterCol !== undefined ? { cluster_col: opts.clusterCol } : {}),
        ...(opts.compareCol !== undefined ? { compare_col: opts.compareCol } : {}),
        ...(opts.where.length > 0 ? { where: opts.where.map((w) => `${w.column}=${w.value}`) } : {}),
        ...(table.idCol !== undefined ? { id_col: table.idCol } : {}),
        rows_in_file: table.rowsInFile,
        rows_evaluated: table.rowsKept,
      };
      if (opts.json) {
        // JSON has no infinities: a cut-off of -Infinity (everything positive) is written as a string.
        const finite = (_key: string, v: unknown) =>
          typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
        process.stdout.write(`${JSON.stringify({ input, ...result }, finite)}\n`);
      } else {
        process.stdout.write(formatTable(input, result));
      }
    });
}

type Evaluation = import("../../stats/index.ts").BinaryEvaluation;

function f(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined ? "n/a" : x.toFixed(digits);
}

function ci(c: [number, number] | null | undefined, digits = 3): string {
  return c ? `${f(c[0], digits)} to ${f(c[1], digits)}` : "n/a";
}

function formatTable(input: Record<string, unknown>, r: Evaluation): string {
  const lines: string[] = [];
  const outcome =
    input.label_col !== undefined
      ? `column ${input.label_col}`
      : `${input.kpa_col} >= ${input.threshold_kpa} kPa`;
  lines.push(`${input.file}: score ${input.score_col}, outcome ${outcome}`);
  if (input.where)
    lines.push(
      `rows ${input.rows_evaluated} of ${input.rows_in_file} (where ${(input.where as string[]).join(", ")})`,
    );
  lines.push(`cases ${r.n} (${r.n_pos} positive, ${r.n_neg} negative; prevalence ${f(r.prevalence)})`);
  lines.push("");
  lines.push(`AUROC                 ${f(r.auc, 4)}`);
  lines.push(`  DeLong 95% CI       ${ci(r.delong_ci95, 4)}   (SE ${f(r.delong_se, 4)})`);
  if (r.obuchowski_ci95) {
    lines.push(`  clustered 95% CI    ${ci(r.obuchowski_ci95, 4)}   (Obuchowski, by ${input.cluster_col})`);
  }
  if (r.bootstrap_ci95 && r.bootstrap) {
    const b = r.bootstrap;
    const how = `${b.method}, stratified${b.clustered ? `, clustered by ${input.cluster_col} (${b.n_clusters} clusters)` : ""}, ${b.resamples} resamples, seed ${b.seed}`;
    lines.push(`  bootstrap 95% CI    ${ci(r.bootstrap_ci95, 4)}   (${how})`);
  }
  const y = r.youden;
  lines.push("");
  lines.push(
    `Youden cut-off        ${Number(y.threshold.toPrecision(6))}   (positive when score >= cut-off; J = ${f(y.youden_index)})`,
  );
  lines.push(`  TP ${y.tp}  FN ${y.fn}  FP ${y.fp}  TN ${y.tn}`);
  const row = (name: string, v: number | null, c: [number, number] | null) =>
    lines.push(`  ${name.padEnd(20)}${f(v)}   Wilson 95% CI ${ci(c)}`);
  row("sensitivity", y.sensitivity, y.sensitivity_wilson95);
  row("specificity", y.specificity, y.specificity_wilson95);
  row("accuracy", y.accuracy, y.accuracy_wilson95);
  lines.push(`  ${"balanced accuracy".padEnd(20)}${f(y.balanced_accuracy)}`);
  row("PPV", y.ppv, y.ppv_wilson95);
  row("NPV", y.npv, y.npv_wilson95);
  if (r.calibration) {
    const c = r.calibration;
    lines.push("");
    lines.push(
      `Calibration           Brier ${f(c.brier, 4)}  intercept ${f(c.intercept)}  slope ${f(c.slope)}  ECE ${f(c.ece, 4)} (${c.bins.length} bins)`,
    );
    if (c.fit_note) lines.push(`  note: ${c.fit_note}`);
  }
  if (r.net_benefit) {
    const pick = r.net_benefit.filter((row) =>
      [0.1, 0.2, 0.3, 0.5].some((t) => Math.abs(row.threshold - t) < 1e-9),
    );
    if (pick.length > 0) {
      lines.push(
        `Net benefit           ${pick.map((row) => `p=${row.threshold}: ${f(row.net_benefit)} (all ${f(row.treat_all)})`).join("  ")}`,
      );
    }
  }
  if (r.auc2 !== undefined) {
    lines.push("");
    lines.push(
      `Compared with ${input.compare_col}: AUROC ${f(r.auc2, 4)} (DeLong 95% CI ${ci(r.delong_ci95_2, 4)})`,
    );
    lines.push(
      `  difference          ${f(r.auc_difference, 4)}   DeLong 95% CI ${ci(r.auc_difference_ci95, 4)}`,
    );
    if (r.auc_difference_bootstrap_ci95) {
      lines.push(`  bootstrap 95% CI    ${ci(r.auc_difference_bootstrap_ci95, 4)}`);
    }
    lines.push(
      `  paired DeLong test  z = ${f(r.delong_paired_z)}, p = ${r.delong_paired_p === undefined ? "n/a" : r.delong_paired_p.toPrecision(3)}`,
    );
    if (r.obuchowski_paired_z !== undefined && r.obuchowski_paired_p !== undefined) {
      lines.push(
        `  clustered test      z = ${f(r.obuchowski_paired_z)}, p = ${r.obuchowski_paired_p.toPrecision(3)}   (Obuchowski, by ${input.cluster_col}; difference 95% CI ${ci(r.obuchowski_difference_ci95, 4)})`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
