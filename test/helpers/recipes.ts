// A small copy of a shipped recipe (fewer epochs, one ensemble member), as users are told to make, for
// the end-to-end tests that train through the CLI.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Writes DIR/NAME.json from recipes/FROM.json with `training` and `head` fields replaced; returns its path. */
export function smallRecipe(
  dir: string,
  from: string,
  name: string,
  training: Record<string, unknown>,
  head: Record<string, unknown> = {},
): string {
  const recipe = JSON.parse(readFileSync(join(ROOT, "recipes", `${from}.json`), "utf8"));
  recipe.name = name;
  recipe.training = { ...recipe.training, ...training };
  recipe.head = { ...recipe.head, ...head };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(recipe, null, 2));
  return path;
}
