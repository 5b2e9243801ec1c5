// Checks of numeric options that several commands share.
import { LiverstiffError } from "../core/index.ts";

/** `--seed` (an integer >= 0) and `--resamples` (bootstrap resamples, an integer >= 100). */
export function seedAndResamples(opts: { seed: string; resamples: string }): {
  seed: number;
  resamples: number;
} {
  const seed = Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new LiverstiffError("--seed must be an integer >= 0", { seed: opts.seed });
  const resamples = Number(opts.resamples);
  if (!Number.isInteger(resamples) || resamples < 100)
    throw new LiverstiffError("--resamples must be an integer >= 100", { resamples: opts.resamples });
  return { seed, resamples };
}
