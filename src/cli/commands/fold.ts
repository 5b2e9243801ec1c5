import type { Command } from "commander";
import { LiverstiffError } from "../../core/index.ts";

export function register(program: Command): void {
  program
    .command("fold")
    .description(
      "Train one fold of a batch that `validate` or `train --executor slurm` wrote (RUN/slurm/batch-N.json): " +
        "the command each Slurm array task runs. Writes the fold's file in the run folder atomically.",
    )
    .argument("<batch>", "batch file (RUN/slurm/batch-N.json)")
    .argument("[index]", "task index in the batch (default: $SLURM_ARRAY_TASK_ID)")
    .action(async (batch: string, index: string | undefined) => {
      const raw = index ?? process.env.SLURM_ARRAY_TASK_ID;
      const k = Number(raw);
      if (raw === undefined || !Number.isInteger(k) || k < 0)
        throw new LiverstiffError("give the task index, or run inside a Slurm array task", {
          index: raw ?? "(none)",
        });
      const { runSlurmTask } = await import("../../validate/slurm.ts");
      const t0 = performance.now();
      const fold = await runSlurmTask(batch, k);
      process.stdout.write(
        `fold ${fold.summary.fold} trained in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${fold.rows.length} test exams\n`,
      );
    });
}
