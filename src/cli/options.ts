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

/** An optional non-negative integer option: undefined when not given (the callee's default applies). */
export function optionalInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()))
    throw new LiverstiffError(`${name} must be a non-negative integer`, { [name]: raw });
  return Number(raw);
}
