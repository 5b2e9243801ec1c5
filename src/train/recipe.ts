// Recipes: named, validated configs (preparation + encoder + head + training). The shipped ones live in
// recipes/*.json; users copy and edit them. The resolved recipe (defaults filled in) is what validate/
// records in every manifest and what a saved model carries.
import { existsSync, readFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type * as Zod from "zod";
import { LiverstiffError, projectPath, yaml, zod } from "../core/index.ts";

// Recipes are validated wherever they are loaded, so zod is needed as soon as this module is.
const { z } = zod();

const role = z.enum(["t1_in", "t1_opp", "t2"]);

/** The subset of cohort/'s PrepConfig a recipe may set; unset fields take the encoder's/cohort's defaults. */
export const preparationSchema = z
  .object({
    slices: z.number().int().min(1).max(64).default(5),
    size: z.number().int().min(8).optional(),
    inPlane: z.enum(["mm", "pixels"]).optional(),
    fovMm: z.number().positive().optional(),
    cropPx: z.number().int().min(8).optional(),
    normalize: z.enum(["zscore", "zscore-body", "percentile"]).optional(),
    percentiles: z.tuple([z.number().min(0).max(100), z.number().min(0).max(100)]).optional(),
    dtype: z.enum(["f32", "f16"]).optional(),
    roles: z.array(role).min(1).optional(),
  })
  .strict();

export const encoderSchema = z
  .object({
    /** Encoder name as features/ knows it; "default" = the project's pretrained small CNN. */
    name: z.string().min(1).default("default"),
    /** Frozen encoder (features cached once); finetune = train the encoder too (GPU users). */
    frozen: z.boolean().default(true),
    finetune: z.boolean().default(false),
    /**
     * Fine-tuning only (filled with FINETUNE_DEFAULTS when finetune is set, absent otherwise, so that a
     * frozen recipe resolves exactly as before): the encoder's learning rate (the head keeps training.lr).
     */
    lr: z.number().positive().optional(),
    /** Fine-tuning only: BatchNorm running statistics "frozen" (eval mode, default) or updated ("train"). */
    batchNorm: z.enum(["frozen", "train"]).optional(),
  })
  .strict();

/** What a fine-tuned encoder trains with when the recipe leaves it unset. */
export const FINETUNE_DEFAULTS = { lr: 1e-4, batchNorm: "frozen" } as const;

const deepliver2HeadSchema = z
  .object({
    kind: z.literal("deepliver2"),
    /** Hidden layer widths on the concatenated input (published: 4096, 1024, 256; ReLU after each). */
    hidden: z.array(z.number().int().positive()).min(1).default([4096, 1024, 256]),
    /** Keras-style L2 penalty factor on every layer's kernel: loss += l2 * sum(W^2). */
    l2: z.number().min(0).default(1e-4),
    /** Roles concatenated, in this order; "t1" = t1_in when present, else t1_opp. */
    inputs: z
      .array(z.enum(["t2", "t1", "t1_in", "t1_opp"]))
      .min(1)
      .default(["t2", "t1"]),
    /** Central slices per role fed to the head (<= the prepared slices; centred). */
    slices: z.number().int().min(1).default(5),
    /** Weight initialisation: Keras Dense defaults (Glorot-uniform kernels, zero biases) or torch's. */
    init: z.enum(["glorot_uniform", "torch"]).default("glorot_uniform"),
  })
  .strict();

const liverstiffHeadSchema = z
  .object({
    kind: z.literal("liverstiff"),
    /**
     * Principal components kept from the standardised per-slice features (fitted on the training part,
     * whitened); 0 = no reduction. Cuts the cost and the noise of 512-d (or 1024-d) features.
     */
    pca: z.number().int().min(0).default(64),
    /** Fit the PCA on every slice token, or on each (exam, role)'s slice mean (exam-level variation). */
    pcaOn: z.enum(["tokens", "slice-means"]).default("tokens"),
    /** Width of the per-slice token after LayerNorm + Linear projection. */
    dim: z.number().int().positive().default(64),
    /** Width of the gated-attention scorer (tanh(V h) * sigmoid(U h)). */
    attnDim: z.number().int().positive().default(32),
    /** Attention-pooling heads (each a gated-attention scorer over all slice tokens of all roles). */
    heads: z.number().int().positive().default(4),
    /** Hidden width of the fused (pooled + clinical) MLP. */
    hidden: z.number().int().positive().default(64),
    dropout: z.number().min(0).max(0.9).default(0.2),
    /** Dropout on whole tokens (slices) while training. */
    tokenDropout: z.number().min(0).max(0.9).default(0.1),
    /** Roles used when present (missing ones are masked out). */
    roles: z.array(role).min(1).default(["t1_in", "t1_opp", "t2"]),
    /** Fuse standardised age, sex one-hot and missing indicators. */
    clinical: z.boolean().default(true),
    /**
     * Fuse the exam's site (one-hot over the training part's sites): sites differ in prevalence, which
     * the header shows. An exam from a site not seen in training gets the all-zero "unknown site", which
     * training learns through siteDropout (that share of training exams is shown as unknown).
     */
    site: z.boolean().default(false),
    siteDropout: z.number().min(0).max(1).default(0.3),
    /** Add a linear path from each role's slice-mean token to the score and log kPa (a ridge-like skip). */
    linearSkip: z.boolean().default(false),
    /** Weight of the log-kPa regression loss beside the sum of the five BCEs. */
    regressionWeight: z.number().min(0).default(1),
    /**
     * Weight of the ridge member (src/train/ridge.ts: ridge regression of log kPa on each role's
     * slice-mean features and the clinical covariates, Gaussian predictive distribution) in the average
     * with the attention members' probabilities and log kPa; 0 = attention only.
     */
    ridge: z.number().min(0).max(1).default(0),
    /** The ridge penalty per training exam on standardised columns. */
    ridgeLambda: z.number().positive().default(0.1),
    /**
     * Weight of the organ member (src/train/organ-member.ts: ridge regression of log kPa on the exam's
     * liver and spleen measures and the clinical covariates) in the average with the other members, for
     * exams that have organ measures; 0 = not used. Exams without them are predicted by the other members.
     */
    organs: z.number().min(0).max(1).default(0),
    /** The organ member's penalty per training exam on standardised columns. */
    organLambda: z.number().positive().default(0.1),
    /** Independently seeded models averaged at prediction (seed, seed+1, ...). */
    ensemble: z.number().int().min(1).max(16).default(3),
  })
  .strict();

/** The default penalty grid of baseline-ridge: 10^-3 ... 10^3 per exam, four values a decade. */
const RIDGE_GRID = Array.from({ length: 25 }, (_, i) => Number((10 ** (-3 + i / 4)).toPrecision(6)));

/**
 * Baseline: the standard linear probe. Ridge regression of log kPa on each role's slice-mean frozen
 * features (standardised with the training part's statistics; a missing role sits at the training mean),
 * no clinical covariates, penalty chosen by GCV inside the training part; Gaussian predictive distribution
 * with the cross-fitted residual SD (src/train/ridge.ts, shared with the liverstiff head's ridge member).
 */
const baselineRidgeHeadSchema = z
  .object({
    kind: z.literal("baseline-ridge"),
    roles: z.array(role).min(1).default(["t1_in", "t1_opp", "t2"]),
    /** Candidate penalties per exam on standardised columns; GCV on the training part picks one. */
    lambdaGrid: z.array(z.number().positive()).min(1).default(RIDGE_GRID),
  })
  .strict();

/**
 * Baseline: clinical-only logistic regression, one L2-penalised fit per threshold on standardised age, an
 * age-missing indicator, sex one-hot and (site: true) the training part's site one-hot; exams of a site
 * not seen in training are predicted by a second fit without the site columns. Reads no image feature.
 */
const baselineClinicalHeadSchema = z
  .object({
    kind: z.literal("baseline-clinical"),
    /** Penalty on the coefficients (not the intercept): mean log-loss + l2 / 2 * sum(w^2). */
    l2: z.number().positive().default(0.01),
    site: z.boolean().default(true),
  })
  .strict();

export const headSchema = z.discriminatedUnion("kind", [
  deepliver2HeadSchema,
  liverstiffHeadSchema,
  baselineRidgeHeadSchema,
  baselineClinicalHeadSchema,
]);

export const trainingSchema = z
  .object({
    optimizer: z.enum(["adamax", "adamw", "adam"]),
    lr: z.number().positive(),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    eps: z.number().min(0).default(1e-8),
    /** Optimizer weight decay (decoupled for adamw, L2-coupled for adam/adamax); heads add their own L2. */
    weightDecay: z.number().min(0).default(0),
    /** Mini-batch size, or "full" for full-batch steps. */
    batchSize: z.union([z.number().int().positive(), z.literal("full")]),
    maxEpochs: z.number().int().positive(),
    patience: z.number().int().positive(),
    /** Early-stopping metric on the validation part. */
    earlyStopping: z.enum(["val_accuracy", "val_auroc_3_0", "val_loss"]),
    /** Restore the weights of the best validation epoch (Keras' EarlyStopping default is false). */
    restoreBest: z.boolean().default(true),
    classWeighting: z.enum(["balanced", "none"]).default("balanced"),
    /** Added to the balanced weight of the negative class (the public DeepLiverNet 2.0 code adds 0.3). */
    negativeWeightOffset: z.number().min(0).default(0),
    seed: z.number().int().min(0).default(42),
  })
  .strict();

export const recipeSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only"),
    description: z.string().default(""),
    preparation: preparationSchema.prefault({}),
    encoder: encoderSchema.prefault({}),
    head: headSchema,
    training: trainingSchema,
  })
  .strict();

/** A resolved recipe: every default filled in. */
export type Recipe = Zod.output<typeof recipeSchema>;
export type RecipeInput = Zod.input<typeof recipeSchema>;
export type HeadConfig = Recipe["head"];
export type Deepliver2Head = Extract<HeadConfig, { kind: "deepliver2" }>;
export type LiverstiffHead = Extract<HeadConfig, { kind: "liverstiff" }>;
export type BaselineRidgeHead = Extract<HeadConfig, { kind: "baseline-ridge" }>;
export type BaselineClinicalHead = Extract<HeadConfig, { kind: "baseline-clinical" }>;
export type TrainingConfig = Recipe["training"];

/**
 * The recipe's head, narrowed by its kind: a trainer asks for the head it trains and gets an error naming
 * the recipe, not a cast, when it is given another.
 */
export function headOf<K extends HeadConfig["kind"]>(
  recipe: Recipe,
  kind: K,
): Extract<HeadConfig, { kind: K }> {
  if (recipe.head.kind !== kind)
    throw new LiverstiffError(`recipe ${recipe.name} has a ${recipe.head.kind} head, not a ${kind} head`, {
      recipe: recipe.name,
    });
  return recipe.head as Extract<HeadConfig, { kind: K }>;
}

/** The folder holding the shipped recipes (recipes/ at the repository root). */
export const RECIPES_DIR = projectPath("recipes");

/** Names of the shipped recipes (recipes/<name>.json). */
export const BUILTIN_RECIPES = [
  "deepliver2",
  "deepliver2-fast",
  "liverstiff",
  "baseline-ridge",
  "baseline-clinical",
] as const;

function fieldPath(path: readonly PropertyKey[]): string {
  return path.length === 0
    ? "(root)"
    : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".");
}

/**
 * Validates a recipe object (parsed JSON/YAML). Errors name the source and every offending field, e.g.
 * `recipe my.json: field "training.lr": Too small: expected number to be >0`.
 */
export function parseRecipe(value: unknown, source = "recipe"): Recipe {
  const result = recipeSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `field "${fieldPath(i.path)}": ${i.message}`);
    const first = result.error.issues[0];
    throw new LiverstiffError(`invalid recipe ${source}: ${issues.join("; ")}`, {
      file: source,
      field: first ? fieldPath(first.path) : "(root)",
    });
  }
  const r = result.data;
  if (r.encoder.finetune && r.encoder.frozen) {
    // finetune implies an unfrozen encoder; record it consistently.
    r.encoder.frozen = false;
  }
  if (r.encoder.finetune) {
    r.encoder.lr ??= FINETUNE_DEFAULTS.lr;
    r.encoder.batchNorm ??= FINETUNE_DEFAULTS.batchNorm;
  }
  if (r.head.kind === "deepliver2" && r.head.slices > r.preparation.slices) {
    throw new LiverstiffError(
      `invalid recipe ${source}: field "head.slices": ${r.head.slices} slices exceed preparation.slices (${r.preparation.slices})`,
      { file: source, field: "head.slices" },
    );
  }
  return r;
}

/** Parses recipe text (JSON, or YAML for .yaml/.yml sources). */
export function parseRecipeText(text: string, source = "recipe"): Recipe {
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(source) ? yaml().parse(text) : JSON.parse(text);
  } catch (err) {
    throw new LiverstiffError(
      `recipe ${source} is not valid ${/\.ya?ml$/i.test(source) ? "YAML" : "JSON"}: ${(err as Error).message}`,
      { file: source },
      { cause: err },
    );
  }
  return parseRecipe(value, source);
}

/**
 * Loads a recipe by built-in name ("deepliver2", "liverstiff", ... = recipes/<name>.json) or by path to
 * a .json/.yaml/.yml file, validated.
 */
export function loadRecipe(nameOrPath: string): Recipe {
  let path: string;
  if (/^[A-Za-z0-9._-]+$/.test(nameOrPath) && !extname(nameOrPath) && !existsSync(nameOrPath)) {
    path = join(RECIPES_DIR, `${nameOrPath}.json`);
    if (!existsSync(path)) {
      throw new LiverstiffError(
        `unknown recipe "${nameOrPath}": not a built-in (${BUILTIN_RECIPES.join(", ")}) nor a file`,
        { recipe: nameOrPath },
      );
    }
  } else {
    path = resolve(nameOrPath);
    if (!existsSync(path))
      throw new LiverstiffError(`recipe file ${nameOrPath} does not exist`, { file: nameOrPath });
  }
  return parseRecipeText(readFileSync(path, "utf8"), basename(path) === path ? path : nameOrPath);
}
