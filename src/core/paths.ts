// Where the project's own files are, whether the code runs from its TypeScript sources (src/, through
// tsx) or compiled (dist/src/, `npm run build`): assets, recipes and the addon are found from the package
// root, never from a fixed depth below the running file; a worker module has the running file's extension.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "liverstiff") return dir;
      } catch {
        // not ours: go on up
      }
    }
    if (dirname(dir) === dir) throw new Error(`liverstiff's package.json not found above ${start}`);
  }
}

/** The package root: the folder of liverstiff's package.json. */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the package (assets/, recipes/, native/, package.json). */
export function projectPath(...parts: string[]): string {
  return join(PROJECT_ROOT, ...parts);
}

/** The module `name` beside `baseUrl` (an import.meta.url), with the same extension: .ts or .js. */
export function siblingModule(baseUrl: string, name: string): URL {
  return new URL(`./${name}${extname(fileURLToPath(baseUrl))}`, baseUrl);
}

/** The extension of the running code's modules: ".ts" from the sources, ".js" when compiled. */
export const MODULE_EXTENSION = extname(fileURLToPath(import.meta.url));

/**
 * The package version and, in a git checkout, the commit ("+dirty" when tracked files differ): what a run
 * manifest, a bundle or a weights manifest records as the code that made it.
 */
export function codeVersion(): { version: string; commit?: string } {
  const pkg = JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as { version: string };
  try {
    if (!existsSync(projectPath(".git"))) return { version: pkg.version };
    const git = (args: string[]) =>
      execFileSync("git", ["-C", PROJECT_ROOT, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const commit = git(["rev-parse", "HEAD"]);
    return {
      version: pkg.version,
      commit: git(["status", "--porcelain", "--untracked-files=no"]) ? `${commit}+dirty` : commit,
    };
  } catch {
    return { version: pkg.version };
  }
}

/** The commit alone, or "unknown" outside a git checkout. */
export function codeCommit(): string {
  return codeVersion().commit ?? "unknown";
}
