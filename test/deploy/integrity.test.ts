// A bundle's digest and signature, without the engine: a bundle written from fake member files, then each
// edit the audit made (cut-offs, members, recipe.head, thresholds, a weight file), each refused naming what
// changed; Ed25519 signing and trust.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type BundleContent, readBundleManifest, writeBundle } from "../../src/deploy/bundle.ts";
import { canonicalJson } from "../../src/deploy/integrity.ts";
import { DEFAULT_RULES, parseSeriesOverrides, seriesChoiceRecord } from "../../src/dicom/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const dir = scratchDir("ls-integrity-");

function keyPair(name: string): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const priv = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  writeFileSync(priv, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return { priv, pub };
}

const content = {
  format: "liverstiff-bundle",
  formatVersion: 3,
  createdAt: "2026-12-03T00:00:00.000Z",
  codeVersion: { version: "0.0.0" },
  recipe: { name: "fake", head: { kind: "liverstiff", hidden: 32 }, training: { maxEpochs: 3 } },
  preparation: { roles: ["t2"], slices: 3, size: 8 },
  prepName: "p",
  encoder: { name: "e", weightsSha256: "0".repeat(64), featureDim: 1 },
  thresholdsKpa: [2.5, 3, 3.5, 4, 5],
  cutoffs: { method: "test", values: [0.3, 0.4, 0.45, 0.5, 0.6] },
  validation: { scheme: "cv10", seed: 1, runDir: "r", nExams: 10, nPatients: 10, auc: [] },
  trainingSet: { exams: 10 },
  requiredRoles: { all: ["t2"], anyOf: [] },
  seriesChoice: seriesChoiceRecord({
    rules: DEFAULT_RULES,
    rulesSource: "defaults",
    overrides: parseSeriesOverrides("accession,series_number,role\nA1,5,t2\n", "overrides.csv"),
    overridesSources: ["overrides.csv"],
  }),
} as unknown as BundleContent;

let plain = "";
let signed = "";
let keys: { priv: string; pub: string };

function writeFake(out: string, signKey?: string): void {
  const members = Array.from({ length: 10 }, (_, i) => {
    const file = join(dir, `member-${i}.bin`);
    writeFileSync(file, `weights of fold ${i + 1}`);
    return {
      info: { fold: String(i + 1), nTrain: 8, nVal: 1, nTest: 1, cutoffs: [0.5, 0.5, 0.5, 0.5, 0.5] },
      sourceFile: file,
    };
  });
  writeBundle(out, content, members as Parameters<typeof writeBundle>[2], { signKey });
}

// biome-ignore lint/suspicious/noExplicitAny: the tests edit bundle.json as free JSON
type Json = Record<string, any>;

/** A copy of the bundle with bundle.json edited by `edit`. */
function edited(edit: (m: Json) => void): string {
  const copy = mkdtempSync(join(dir, "copy-"));
  cpSync(plain, copy, { recursive: true });
  const m = JSON.parse(readFileSync(join(copy, "bundle.json"), "utf8"));
  edit(m);
  writeFileSync(join(copy, "bundle.json"), JSON.stringify(m, null, 2));
  return copy;
}

before(() => {
  keys = keyPair("site");
  plain = join(dir, "plain");
  signed = join(dir, "signed");
  writeFake(plain);
  writeFake(signed, keys.priv);
});

describe("bundle digest", () => {
  it("lists every file with its sha256 and reads back unchanged", () => {
    const { manifest } = readBundleManifest(plain);
    assert.equal(Object.keys(manifest.files).length, 10);
    assert.match(manifest.integrity.digest, /^[0-9a-f]{64}$/);
    assert.equal(manifest.integrity.signature, undefined);
    // Re-serialising with other whitespace and key order changes nothing.
    const m = JSON.parse(readFileSync(join(plain, "bundle.json"), "utf8"));
    const copy = edited(() => {});
    writeFileSync(join(copy, "bundle.json"), JSON.stringify(Object.fromEntries(Object.entries(m).reverse())));
    assert.doesNotThrow(() => readBundleManifest(copy));
  });

  it("canonical JSON sorts keys at every depth", () => {
    assert.equal(canonicalJson({ b: [{ d: 1, c: 2 }], a: null }), '{"a":null,"b":[{"c":2,"d":1}]}');
  });

  const cases: [string, (m: Json) => void, RegExp][] = [
    [
      "cut-offs set to 0.01",
      (m) => (m.cutoffs.values = [0.01, 0.01, 0.01, 0.01, 0.01]),
      /cutoffs\.values changed/,
    ],
    ["members cut from 10 to 1", (m) => (m.members = m.members.slice(0, 1)), /: members changed/],
    ["recipe.head edited", (m) => (m.recipe.head.hidden = 64), /recipe\.head changed/],
    ["thresholds edited", (m) => (m.thresholdsKpa = [2, 3, 3.5, 4, 5]), /: thresholdsKpa changed/],
    ["a field added", (m) => (m.note = "x"), /note \(added\) changed/],
    [
      "the series rules edited",
      (m) => m.seriesChoice.rules.keywords.t2.push("\\bflair\\b"),
      /seriesChoice\.rules changed/,
    ],
    [
      "a per-exam override edited",
      (m) => (m.seriesChoice.overrides[0].seriesNumber = 6),
      /seriesChoice\.overrides changed/,
    ],
    [
      "the digest itself edited",
      (m) => (m.integrity.digest = "0".repeat(64)),
      /does not match its integrity digest/,
    ],
  ];
  for (const [what, edit, expected] of cases)
    it(`refuses: ${what}, naming it`, () => {
      const copy = edited(edit);
      assert.throws(
        () => readBundleManifest(copy),
        (err: Error) => {
          assert.match(
            err.message,
            /^model bundle refused: bundle\.json was edited|^model bundle refused: bundle\.json does not/,
          );
          assert.match(err.message, expected);
          return true;
        },
      );
    });

  it("refuses a modified, a missing and an added file, naming it", () => {
    const modified = edited(() => {});
    appendFileSync(join(modified, "models", "fold-03.safetensors"), "x");
    assert.throws(
      () => readBundleManifest(modified),
      (err: Error & { context?: Record<string, string> }) => {
        assert.match(err.message, /does not match its sha256/);
        assert.equal(err.context?.file, "models/fold-03.safetensors");
        return true;
      },
    );
    const missing = edited(() => {});
    rmSync(join(missing, "models", "fold-10.safetensors"));
    assert.throws(() => readBundleManifest(missing), /file the bundle lists is missing/);
    const added = edited(() => {});
    writeFileSync(join(added, "models", "extra.safetensors"), "x");
    assert.throws(() => readBundleManifest(added), /does not list was added/);
  });

  it("loads only listed files: a member pointing outside the folder is refused even with a recomputed digest", async () => {
    const { bundleDigest, fieldDigests } = await import("../../src/deploy/integrity.ts");
    const copy = edited((m) => {
      m.members[0].file = "../outside.safetensors";
      const { integrity, ...rest } = m;
      m.integrity = { ...integrity, digest: bundleDigest(rest), fields: fieldDigests(rest) };
    });
    assert.throws(() => readBundleManifest(copy), /member is not one of the bundle's listed files/);
  });

  it("refuses a bundle without an integrity block", () => {
    const copy = edited((m) => delete m.integrity);
    assert.throws(() => readBundleManifest(copy), /no integrity digest/);
  });
});

describe("bundle signature", () => {
  it("verifies a signed bundle with its public key", () => {
    const { manifest } = readBundleManifest(signed, { trust: keys.pub });
    assert.equal(manifest.integrity.signature?.algorithm, "ed25519");
  });

  it("refuses a signed bundle under another key", () => {
    const other = keyPair("other");
    assert.throws(() => readBundleManifest(signed, { trust: other.pub }), /signed by another key/);
  });

  it("refuses an unsigned bundle when --trust is given", () => {
    assert.throws(() => readBundleManifest(plain, { trust: keys.pub }), /not signed/);
  });

  it("refuses a re-digested edit of a signed bundle (signature no longer verifies)", async () => {
    const { bundleDigest, fieldDigests } = await import("../../src/deploy/integrity.ts");
    const copy = mkdtempSync(join(dir, "resigned-"));
    cpSync(signed, copy, { recursive: true });
    const m = JSON.parse(readFileSync(join(copy, "bundle.json"), "utf8"));
    m.cutoffs.values = [0.01, 0.01, 0.01, 0.01, 0.01];
    const { integrity, ...rest } = m;
    m.integrity = { ...integrity, digest: bundleDigest(rest), fields: fieldDigests(rest) };
    writeFileSync(join(copy, "bundle.json"), JSON.stringify(m));
    assert.doesNotThrow(() => readBundleManifest(copy)); // without --trust a recomputed digest passes
    assert.throws(() => readBundleManifest(copy, { trust: keys.pub }), /signature does not verify/);
  });

  it("refuses a key that is not Ed25519 or not a key", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ec = join(dir, "ec.pub");
    writeFileSync(ec, publicKey.export({ type: "spki", format: "pem" }));
    assert.throws(() => readBundleManifest(signed, { trust: ec }), /is ec, not Ed25519/);
    const junk = join(dir, "junk.pub");
    writeFileSync(junk, "not a key");
    assert.throws(() => readBundleManifest(signed, { trust: junk }), /cannot read the public key/);
  });
});
