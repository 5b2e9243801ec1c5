#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs bench/NAME.ts (or bench/NAME/index.ts) through tsx.
// Every bench prints, as its last line, one JSON object with its figures.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const [name, ...args] = process.argv.slice(2);
const candidates = name ? [join(root, "bench", `${name}.ts`), join(root, "bench", name, "index.ts")] : [];
const file = candidates.find((c) => existsSync(c));
if (!file) {
  const known = readdirSync(join(root, "bench"))
    .filter((f) => f.endsWith(".ts") || !f.includes("."))
    .map((f) => f.replace(/\.ts$/, ""));
  console.error(`usage: npm run bench -- NAME   (known: ${known.join(", ") || "none"})`);
  process.exit(2);
}
const result = spawnSync(process.execPath, ["--import", "tsx", file, ...args], {
  cwd: root,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
