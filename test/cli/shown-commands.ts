// Shell commands shown in Markdown documents: where each is, and its words, so that a test can run them.
import { readdirSync } from "node:fs";
import { join } from "node:path";

/** One shell command shown in a document: where, and its words after the program's name. */
export interface Shown {
  where: string;
  program: "liverstiff" | "npm";
  words: string[];
}

export function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith(".md") ? [join(dir, e.name)] : [],
  );
}

// Fenced blocks in these languages hold code or data, not shell commands.
const NOT_SHELL = /^(ts|typescript|js|javascript|json|jsonc|ya?ml|py|python|csv|html|c|cpp|c\+\+|r)$/i;

/** The commands of one line of shell: split at && || ; | $( ( ) (a | without spaces is usage's "or"), comments dropped. */
export function shellCommands(line: string): string[][] {
  const code = line.replace(/(^|\s)#.*$/, "");
  return code
    .split(/&&|\s\|\|\s|;|\s\|\s|\$\(|[()]/)
    .map((segment) => {
      const words = segment.trim().split(/\s+/).filter(Boolean);
      // Leading environment assignments and wrappers do not change which command runs.
      while (
        words.length > 0 &&
        (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!) || /^(sudo|npx|time|\$)$/.test(words[0]!))
      )
        words.shift();
      return words;
    })
    .filter((w) => w.length > 0);
}

/** Every liverstiff and npm run command shown in one document, with its line number. */
export function shownCommands(file: string, text: string): Shown[] {
  const lines = text.split("\n");
  const shown: Shown[] = [];
  const add = (line: number, commandText: string) => {
    for (const words of shellCommands(commandText)) {
      const [program, ...rest] = words;
      if (program === "liverstiff" || (program === "npm" && rest[0] === "run"))
        shown.push({ where: `${file}:${line}`, program, words: rest });
    }
  };
  // Fenced blocks, line by line (a trailing backslash continues a line); the rest is prose, blanked so
  // that inline code keeps its line numbers.
  const prose: string[] = [];
  let fence: { marker: string; shell: boolean; prompted: boolean } | undefined;
  let pending: { line: number; text: string } | undefined;
  lines.forEach((raw, i) => {
    const open = /^\s*(```+|~~~+)\s*([^\s`]*)/.exec(raw);
    if (fence === undefined && open) {
      const marker = open[1]!;
      const end = lines.findIndex((l, j) => j > i && l.trim().startsWith(marker));
      const body = lines.slice(i + 1, end < 0 ? undefined : end);
      // A block with `$ ` prompts shows a session: only the prompted lines are commands, the rest output.
      fence = { marker, shell: !NOT_SHELL.test(open[2]!), prompted: body.some((l) => /^\s*\$ /.test(l)) };
      prose.push("");
      return;
    }
    if (fence !== undefined) {
      prose.push("");
      if (raw.trim().startsWith(fence.marker)) {
        fence = undefined;
        return;
      }
      if (!fence.shell || (fence.prompted && pending === undefined && !/^\s*\$ /.test(raw))) return;
      const joined = pending ? `${pending.text} ${raw.trim()}` : raw;
      const start = pending?.line ?? i + 1;
      if (/\\\s*$/.test(joined)) {
        pending = { line: start, text: joined.replace(/\\\s*$/, "") };
        return;
      }
      pending = undefined;
      add(start, joined);
      return;
    }
    prose.push(raw);
  });
  const proseText = prose.join("\n");
  for (const m of proseText.matchAll(/(`+)([^`]+?)\1/g)) {
    const span = m[2]!.replace(/\s+/g, " ").trim();
    if (!/^([A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(npx\s+)?(liverstiff|npm run)\s/.test(span)) continue;
    add(proseText.slice(0, m.index).split("\n").length, span);
  }
  return shown;
}

/** The long options a command shows (also as `[--opt N]`), before any bare `--`. */
export function longOptions(words: string[]): string[] {
  const end = words.indexOf("--");
  return (end < 0 ? words : words.slice(0, end))
    .map((w) => w.replace(/^\[/, ""))
    .filter((w) => /^--[a-z]/.test(w))
    .map((w) => w.replace(/[^a-z0-9-].*$/, ""));
}
