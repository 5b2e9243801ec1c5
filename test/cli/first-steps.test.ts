// The first commands a user types after `bash scripts/setup.sh` work as typed: `npx liverstiff` in the
// clone (root or a subfolder, with an empty npm cache and no network, as on a fresh machine), and, after
// `setup.sh --link`, `liverstiff` from npm's global prefix; the link step is idempotent.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { scratchDir } from "../fixtures/scratch.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const run = promisify(execFile);
const dir = scratchDir("ls-first-steps-");

/** npm with its own empty cache and global prefix, offline: nothing of this machine's npm state helps. */
function freshNpm(name: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    npm_config_cache: join(dir, name, "cache"),
    npm_config_prefix: join(dir, name, "prefix"),
    npm_config_offline: "true",
    npm_config_update_notifier: "false",
  };
}

describe("first steps", () => {
  it("`npx liverstiff --version` prints the package version in the clone's root and in a subfolder", async () => {
    const env = freshNpm("npx");
    for (const cwd of [ROOT, join(ROOT, "docs")]) {
      const { stdout } = await run("npx", ["liverstiff", "--version"], { cwd, env, timeout: 60_000 });
      assert.equal(stdout, `${VERSION}\n`, cwd);
    }
  });

  it("`setup.sh --link`'s step links liverstiff into npm's global bin once; a second run changes nothing", async () => {
    const env = freshNpm("link");
    const link = () =>
      run("bash", [join(ROOT, "scripts", "link-cli.sh")], { cwd: dir, env, timeout: 60_000 });
    const first = await link();
    assert.match(first.stdout, /^setup: linked .*\/prefix\/bin\/liverstiff -> .*\/bin\/liverstiff\.mjs$/m);
    const second = await link();
    assert.match(second.stdout, /^setup: liverstiff already linked: /);
    const bin = join(dir, "link", "prefix", "bin", "liverstiff");
    const { stdout } = await run(bin, ["--version"], { cwd: dir, timeout: 60_000 });
    assert.equal(stdout, `${VERSION}\n`);
  });
});
