// The documents match the program: every `liverstiff ...` command shown in README.md and docs/**/*.md
// (fenced code blocks and inline code) is run with --help through the real binary, and must exist, with
// every long option it shows; every `npm run NAME` must be a script and every `npm run bench -- NAME` a
// bench. A failure names the document and line.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { longOptions, markdownFiles, type Shown, shownCommands } from "./shown-commands.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "bin", "liverstiff.mjs");
const run = promisify(execFile);

const WORD = /^[a-z][a-z0-9-]*$/;

interface Help {
  usagePath: string;
  options: string[];
  subcommands: string[];
}

/** `liverstiff PATH --help`: the command path its usage line names, its text and its subcommands. */
async function help(path: string[]): Promise<Help> {
  const { stdout } = await run(process.execPath, [CLI, ...path, "--help"], { cwd: ROOT, timeout: 60_000 });
  const usage = /^Usage: liverstiff((?: [^\s[<]+)*)/m.exec(stdout);
  const section = (title: string) =>
    new RegExp(`\\n${title}:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(stdout)?.[1] ?? "";
  return {
    usagePath: usage?.[1]?.trim() ?? "(no usage line)",
    // Only the option column: a description that mentions another option does not count.
    options: [...section("Options").matchAll(/^ {2}(?:-[A-Za-z], )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!),
    subcommands: [...section("Commands").matchAll(/^ {2}([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!),
  };
}

/** Runs `fn` over `items`, `limit` at a time (each spawn loads the CLI through tsx: ~1 s of CPU). */
async function pooled<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const files = [join(ROOT, "README.md"), ...markdownFiles(join(ROOT, "docs"))].sort();
const shown = files.flatMap((f) => shownCommands(relative(ROOT, f), readFileSync(f, "utf8")));

test("the extractor finds commands in fenced blocks (continued lines too) and inline code, and nothing in prose", () => {
  const doc = [
    "The `liverstiff` recipe and the liverstiff validate step are prose.", // 1
    "```sh", // 2
    "# comment: liverstiff ghost", // 3
    "LIVERSTIFF_ID_SALT=s liverstiff ingest /data --out work \\", // 4
    "  --size 128   # cache", // 5
    "bash scripts/setup.sh && npm run demo", // 6
    "```", // 7
    "```ts", // 8
    "// liverstiff not-a-command", // 9
    "```", // 10
    "Run `liverstiff weights", // 11
    "list --json` or `npm run bench -- stats`.", // 12
  ].join("\n");
  assert.deepEqual(shownCommands("x.md", doc), [
    { where: "x.md:4", program: "liverstiff", words: ["ingest", "/data", "--out", "work", "--size", "128"] },
    { where: "x.md:6", program: "npm", words: ["run", "demo"] },
    { where: "x.md:11", program: "liverstiff", words: ["weights", "list", "--json"] },
    { where: "x.md:12", program: "npm", words: ["run", "bench", "--", "stats"] },
  ]);
  assert.deepEqual(
    longOptions(["synth", "[--sites", "K|ids]", "--recipe=x", "--no-report", "--", "--not-ours"]),
    ["--sites", "--recipe", "--no-report"],
  );
  assert.deepEqual(shownCommands("y.md", "```\nliverstiff synth [--exams N] [--sites K|ids] | head\n```"), [
    { where: "y.md:2", program: "liverstiff", words: ["synth", "[--exams", "N]", "[--sites", "K|ids]"] },
  ]);
});

test("every command shown in README.md and docs/ exists, with every long option it shows", async () => {
  const liverstiff = shown.filter((s) => s.program === "liverstiff");
  // The README's own-data section alone shows six commands; far fewer means the extractor broke.
  assert.ok(liverstiff.length >= 30, `only ${liverstiff.length} liverstiff commands found in the documents`);
  const problems: string[] = [];
  const describe = (s: Shown) => `${s.where}: \`${s.program} ${s.words.join(" ")}\``;

  // Level 1: each distinct subcommand (or none, for `liverstiff --version`); placeholders are skipped.
  const firstOf = (s: Shown) => (s.words[0] === undefined || s.words[0].startsWith("-") ? "" : s.words[0]);
  const runnable = liverstiff.filter((s) => firstOf(s) === "" || WORD.test(firstOf(s)));
  const firsts = [...new Set(runnable.map(firstOf))].sort();
  const level1 = new Map(
    (await pooled(firsts, 2, (f) => help(f ? [f] : []))).map((h, i) => [firsts[i]!, h] as const),
  );
  // Level 2: a subcommand of a command that has them (`liverstiff weights list`).
  const pathOf = (s: Shown): string[] => {
    const first = firstOf(s);
    if (first === "") return [];
    const second = s.words[1];
    return (level1.get(first)?.subcommands.length ?? 0) > 0 && second !== undefined && WORD.test(second)
      ? [first, second]
      : [first];
  };
  const pairs = [
    ...new Set(
      runnable
        .map(pathOf)
        .filter((p) => p.length === 2)
        .map((p) => p.join(" ")),
    ),
  ].sort();
  const level2 = new Map(
    (await pooled(pairs, 2, (p) => help(p.split(" ")))).map((h, i) => [pairs[i]!, h] as const),
  );

  for (const s of runnable) {
    const path = pathOf(s);
    const h = path.length === 2 ? level2.get(path.join(" "))! : level1.get(path[0] ?? "")!;
    if (h.usagePath !== path.join(" ")) {
      problems.push(
        `${describe(s)}: no command \`liverstiff ${path.join(" ")}\` (its --help is that of \`liverstiff${h.usagePath ? ` ${h.usagePath}` : ""}\`)`,
      );
      continue;
    }
    for (const option of longOptions(s.words.slice(path.length))) {
      if (!h.options.includes(option))
        problems.push(`${describe(s)}: \`liverstiff ${path.join(" ")}\` has no option ${option}`);
    }
  }

  const scripts = Object.keys(
    (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
      .scripts,
  );
  for (const s of shown.filter((x) => x.program === "npm")) {
    const [, script, dashes, name] = s.words;
    if (script === undefined || !WORD.test(script)) continue;
    if (!scripts.includes(script)) problems.push(`${describe(s)}: package.json has no script "${script}"`);
    if (script === "bench" && dashes === "--" && name !== undefined && WORD.test(name)) {
      const bench = [join(ROOT, "bench", `${name}.ts`), join(ROOT, "bench", name, "index.ts")];
      if (!bench.some((b) => existsSync(b))) problems.push(`${describe(s)}: no bench/${name}.ts`);
    }
  }
  assert.deepEqual(problems, []);
});
