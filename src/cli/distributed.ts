// The data-parallel options of the commands that train a network: where the ranks meet, how many there
// are, and which one this process is; or torchrun's variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE,
// RANK), which `liverstiff launch` sets. A world of one needs no group.
import type { Command } from "commander";
import { LiverstiffError } from "../core/index.ts";
import { optionalInteger } from "./options.ts";
import { setQuietProgress } from "./progress.ts";

export interface DistributedCliOptions {
  distInit?: string;
  worldSize?: string;
  rank?: string;
  distTimeoutS?: string;
}

export function addDistributedOptions(cmd: Command): Command {
  return cmd
    .option("--dist-init <url>", "data-parallel ranks meet at tcp://HOST:PORT (rank 0 listens there)")
    .option("--world-size <n>", "data-parallel ranks in all (with --dist-init)")
    .option("--rank <r>", "this process's rank, 0 .. world size - 1 (with --dist-init)")
    .option("--dist-timeout-s <s>", "how long a rank waits for the others (default 1800)");
}

/**
 * Joins the group the options (else the environment) describe; undefined for one process. Ranks other
 * than 0 show no progress, so that a launch prints one display.
 */
export async function joinProcessGroup(opts: DistributedCliOptions) {
  const { ProcessGroup, processGroupOptionsFromEnv } = await import("../torch/index.ts");
  let spec: { initMethod: string; worldSize: number; rank: number } | undefined;
  if (opts.distInit !== undefined) {
    const worldSize = optionalInteger("--world-size", opts.worldSize);
    const rank = optionalInteger("--rank", opts.rank);
    if (worldSize === undefined || rank === undefined)
      throw new LiverstiffError("--dist-init needs --world-size and --rank", { distInit: opts.distInit });
    spec = { initMethod: opts.distInit, worldSize, rank };
  } else if (opts.worldSize !== undefined || opts.rank !== undefined) {
    throw new LiverstiffError("--world-size and --rank go with --dist-init", {});
  } else {
    spec = processGroupOptionsFromEnv();
  }
  if (!spec || spec.worldSize === 1) return undefined;
  const timeoutS = optionalInteger("--dist-timeout-s", opts.distTimeoutS) ?? 1800;
  try {
    const group = ProcessGroup.init({ ...spec, timeoutS });
    if (group.rank > 0) setQuietProgress(true);
    return group;
  } catch (err) {
    throw new LiverstiffError(
      `rank ${spec.rank} of ${spec.worldSize} could not join the data-parallel group at ${spec.initMethod}`,
      { reason: (err as Error).message },
    );
  }
}
