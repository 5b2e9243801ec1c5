// Shared by the report tests: the fixture run folder and a small query layer over parse5's tree.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DefaultTreeAdapterMap, parse } from "parse5";
import type { ValidationMetrics } from "../../src/validate/types.ts";

/** The Debian package's Chromium, which the page tests load pages in (through playwright-core). */
export const CHROMIUM = "/usr/bin/chromium";

/** False where Chromium is installed; else why the tests that need it skip. */
export const chromiumSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not found: install the Debian package (apt-get install -y chromium) to run this test`;

export const FIXTURE_DIR = fileURLToPath(new URL("../fixtures/report/run", import.meta.url));

export function fixtureMetrics(): ValidationMetrics {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, "metrics.json"), "utf8"));
}

export function fixtureManifest(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, "manifest.json"), "utf8"));
}

type Node = DefaultTreeAdapterMap["node"];
export type Element = DefaultTreeAdapterMap["element"];

export function parseHtml(html: string): Element {
  const doc = parse(html);
  const root = doc.childNodes.find((n): n is Element => "tagName" in n && n.tagName === "html");
  if (!root) throw new Error("no <html> element");
  return root;
}

export function attr(el: Element, name: string): string | undefined {
  return el.attrs.find((a) => a.name === name)?.value;
}

/** Every element below `root` (depth first, document order), templates included. */
export function* walk(root: Node): Generator<Element> {
  const kids = "childNodes" in root ? root.childNodes : [];
  for (const k of kids) {
    if ("tagName" in k) {
      yield k;
      yield* walk(k);
    }
  }
}

/** Elements matching a tag (or "*") and attribute values. */
export function findAll(root: Node, tag: string, attrs: Record<string, string> = {}): Element[] {
  const out: Element[] = [];
  for (const el of walk(root)) {
    if (tag !== "*" && el.tagName !== tag) continue;
    if (Object.entries(attrs).every(([k, v]) => attr(el, k) === v)) out.push(el);
  }
  return out;
}

export function findOne(root: Node, tag: string, attrs: Record<string, string> = {}): Element {
  const all = findAll(root, tag, attrs);
  if (all.length !== 1) {
    throw new Error(`expected one <${tag}> with ${JSON.stringify(attrs)}, found ${all.length}`);
  }
  return all[0];
}

/** The text content of a node, whitespace collapsed. */
export function text(node: Node): string {
  let s = "";
  const visit = (n: Node) => {
    if (n.nodeName === "#text") s += (n as DefaultTreeAdapterMap["textNode"]).value;
    if ("childNodes" in n) for (const c of n.childNodes) visit(c);
  };
  visit(node);
  return s.replace(/\s+/g, " ").trim();
}

/** "0.912 (0.881, 0.943)", written out here independently of src/report/format.ts. */
export function ci3(x: number, ci: [number, number]): string {
  return `${x.toFixed(3)} (${ci[0].toFixed(3)}, ${ci[1].toFixed(3)})`;
}

/** "84.1% (172/230) 78.0–88.8": a proportion, its counts and its interval. */
export function pctCount(x: number, k: number, n: number, ci: [number, number]): string {
  return `${(100 * x).toFixed(1)}% (${k}/${n}) ${(100 * ci[0]).toFixed(1)}\u2013${(100 * ci[1]).toFixed(1)}`;
}

/** The recipe names of the six-recipe stress case: the fixture's two, two baselines and two long names. */
export const SIX_RECIPES = [
  "deepliver2",
  "liverstiff",
  "baseline-clinical",
  "baseline-ridge",
  "deepliver2-fast",
  "liverstiff-finetuned-swin",
];

/**
 * The fixture widened to six recipes (copies of its two under new names) with a comparison for every
 * pair: what the report must lay out when baselines run beside the recipes.
 */
export function sixRecipeMetrics(): ValidationMetrics {
  const m = fixtureMetrics();
  const source = (i: number) => (i % 2 === 0 ? "deepliver2" : "liverstiff");
  const extra = SIX_RECIPES.slice(2).flatMap((name, i) =>
    m.schemes.filter((s) => s.recipe === source(i)).map((s) => ({ ...structuredClone(s), recipe: name })),
  );
  const comparisons = [];
  for (const scheme of ["cv10", "temporal", "loso"])
    for (let i = 0; i < SIX_RECIPES.length; i++)
      for (let j = i + 1; j < SIX_RECIPES.length; j++)
        for (const c of m.comparisons.filter((x) => x.scheme === scheme))
          comparisons.push({ ...c, recipeA: SIX_RECIPES[i]!, recipeB: SIX_RECIPES[j]! });
  return { ...m, schemes: [...m.schemes, ...extra], comparisons };
}
