import { readdirSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { describeError, LiverstiffError, MODULE_EXTENSION, projectPath } from "../core/index.ts";
import { setQuietProgress } from "./progress.ts";

/**
 * Each file in cli/commands/ exports `register(program)`, adding one subcommand. Command modules import
 * their stage lazily inside the action, so `liverstiff evaluate` never loads the engine.
 */
export interface CommandModule {
  register(program: Command): void;
}

export async function buildProgram(): Promise<Command> {
  const program = new Command("liverstiff")
    .description(
      "Liver stiffness (MR elastography categories) from routine abdominal T1w and T2w MRI: " +
        "ingest DICOM, train, validate and report.",
    )
    .version(await packageVersion())
    .option("-q, --quiet", "no progress output (results and errors are still printed)")
    .option(
      "--device <device>",
      "where models run: cpu (default), cuda, cuda:N, or auto (CUDA when the linked libtorch has it and a GPU is visible)",
    )
    .showHelpAfterError()
    .exitOverride()
    .hook("preAction", async (cmd) => {
      setQuietProgress(cmd.opts().quiet === true);
      await useDevice(cmd.opts().device);
    });
  const dir = new URL("./commands/", import.meta.url);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(MODULE_EXTENSION) && !f.endsWith(`.test${MODULE_EXTENSION}`))
    .sort();
  for (const file of files) {
    const mod = (await import(new URL(file, dir).href)) as Partial<CommandModule>;
    if (typeof mod.register === "function") mod.register(program);
  }
  return program;
}

/**
 * `--device`, resolved once for the whole command (and, through LIVERSTIFF_DEVICE, for its worker
 * processes). The engine is loaded only when a device is asked for, so that `evaluate` never loads it.
 */
async function useDevice(request: string | undefined): Promise<void> {
  if (request === undefined) return;
  const { resolveDevice, setDefaultDevice } = await import("../torch/index.ts");
  try {
    setDefaultDevice(resolveDevice(request));
  } catch (err) {
    throw new LiverstiffError((err as Error).message, { device: request });
  }
}

async function packageVersion(): Promise<string> {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the CLI and returns the process exit code; user errors print one clear line, not a stack. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Help and --version exit 0; every other commander error (unknown option or command, missing or invalid
    // argument) is a usage error: exit 2, as POSIX utilities do, so scripts can tell it from a failed run.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof LiverstiffError) {
      process.stderr.write(`liverstiff: error: ${describeError(err)}\n`);
      return 1;
    }
    process.stderr.write(
      `liverstiff: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 70;
  }
}
