# Extra reference values for liverstiff's statistics tests (beyond ../shared/data/stats-oracle).
# Usage: Rscript scripts/stats/extra_fixtures.R SEED OUT.json
# Needs R with pROC (1.18) and boot; the tests replay the JSON it writes and never call R.
suppressMessages({ library(pROC); library(boot) })
args <- commandArgs(trailingOnly = TRUE)
set.seed(as.integer(args[1])); out <- args[2]
jnum <- function(x) if (length(x) == 1) format(x, digits = 17) else paste0("[", paste(format(x, digits = 17), collapse = ","), "]")
obj <- function(...) { kv <- list(...); paste0("{", paste0('"', names(kv), '":', unlist(kv), collapse = ","), "}") }
jstr <- function(x) if (length(x) == 1) paste0('"', x, '"') else paste0("[", paste0('"', x, '"', collapse = ","), "]")
fast_auc <- function(l, s) { r <- rank(s); m <- sum(l == 1); n <- sum(l == 0); (sum(r[l == 1]) - m * (m + 1) / 2) / (m * n) }
B <- 20000
res <- list()

# 1. Unpaired DeLong test of two independent samples.
l1 <- rbinom(120, 1, 0.4); s1 <- round(rnorm(120, mean = 1.1 * l1), 3)
l2 <- rbinom(90, 1, 0.5); s2 <- round(rnorm(90, mean = 0.6 * l2), 3)
r1 <- roc(l1, s1, levels = c(0, 1), direction = "<", quiet = TRUE)
r2 <- roc(l2, s2, levels = c(0, 1), direction = "<", quiet = TRUE)
t <- roc.test(r1, r2, method = "delong", paired = FALSE)
res$unpaired <- obj(labels1 = jnum(l1), scores1 = jnum(s1), labels2 = jnum(l2), scores2 = jnum(s2),
  auc1 = jnum(as.numeric(auc(r1))), auc2 = jnum(as.numeric(auc(r2))),
  statistic = jnum(unname(t$statistic)), df = jnum(unname(t$parameter)), p = jnum(t$p.value))

# 2. Bootstrap references with many resamples: pROC's stratified percentile CI, and boot's BCa
#    (stratified by class, acceleration from the ordinary leave-one-out jackknife).
boot_case <- function(name, l, s) {
  r <- roc(l, s, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci_p <- ci.auc(r, method = "bootstrap", boot.n = B, boot.stratified = TRUE, progress = "none")
  d <- data.frame(l = l, s = s)
  stat <- function(d, i) fast_auc(d$l[i], d$s[i])
  b <- boot(d, stat, R = B, strata = d$l)
  L <- empinf(data = d, statistic = stat, type = "jack", stype = "i")
  bc <- boot.ci(b, conf = 0.95, type = c("perc", "bca"), L = L)
  obj(name = jstr(name), labels = jnum(l), scores = jnum(s), auc = jnum(fast_auc(l, s)), resamples = B,
      proc_percentile_ci95 = jnum(c(ci_p[1], ci_p[3])), boot_percentile_ci95 = jnum(bc$percent[4:5]),
      boot_bca_ci95 = jnum(bc$bca[4:5]))
}
lt <- c(rep(0, 10), rep(1, 10)); st <- c(1,2,2,3,3,3,4,5,5,6, 3,4,4,5,5,6,6,7,8,8)
lb <- rbinom(200, 1, 0.3); sb <- round(rnorm(200, mean = 1.0 * lb), 3)
res$bootstrap <- paste0("[", boot_case("ties_small", lt, st), ",", boot_case("binormal", lb, sb), "]")

# 3. Clustered (patient) bootstrap: 1-3 exams per patient, a shared patient effect in the scores, labels
#    mostly constant within a patient. Clusters are drawn whole, within strata formed by the patient's
#    label (all 0, all 1, or mixed), percentile CI (R's type-7 quantile).
np <- 150; k <- sample(1:3, np, replace = TRUE, prob = c(0.4, 0.35, 0.25))
pid <- rep(seq_len(np), k); plab <- rbinom(np, 1, 0.4)
lab <- plab[pid]; flip <- runif(length(lab)) < 0.08; lab[flip] <- 1 - lab[flip]
sc <- round(0.9 * lab + rnorm(np, sd = 0.9)[pid] + rnorm(length(lab), sd = 0.6), 4)
kind <- tapply(lab, pid, function(v) if (all(v == 0)) "0" else if (all(v == 1)) "1" else "mixed")
members <- split(seq_along(pid), pid)
strata <- split(names(members), kind[names(members)])
cl_aucs <- replicate(B, {
  idx <- unlist(lapply(strata, function(ids) unlist(members[sample(ids, length(ids), replace = TRUE)], use.names = FALSE)), use.names = FALSE)
  fast_auc(lab[idx], sc[idx])
})
idx_plain <- function() c(sample(which(lab == 0), replace = TRUE), sample(which(lab == 1), replace = TRUE))
plain_aucs <- replicate(B, { i <- idx_plain(); fast_auc(lab[i], sc[i]) })
res$clustered <- obj(labels = jnum(lab), scores = jnum(sc), clusters = jnum(pid), auc = jnum(fast_auc(lab, sc)),
  resamples = B, clustered_percentile_ci95 = jnum(unname(quantile(cl_aucs, c(0.025, 0.975)))),
  stratified_percentile_ci95 = jnum(unname(quantile(plain_aucs, c(0.025, 0.975)))))

# 4. Calibration: Brier, calibration-in-the-large (offset glm), slope (glm on the logit), tight tolerance.
n <- 400; lc <- rbinom(n, 1, 0.35); pc <- round(plogis(-0.4 + 1.6 * (lc - 0.35) * 2 + rnorm(n, sd = 0.9)), 6)
pc <- pmin(pmax(pc, 1e-6), 1 - 1e-6)
ctl <- glm.control(epsilon = 1e-14, maxit = 200)
lp <- qlogis(pc)
g0 <- glm(lc ~ offset(lp), family = binomial, control = ctl)
g1 <- glm(lc ~ lp, family = binomial, control = ctl)
res$calibration <- obj(labels = jnum(lc), probabilities = jnum(pc), brier = jnum(mean((pc - lc)^2)),
  intercept = jnum(unname(coef(g0)[1])), slope = jnum(unname(coef(g1)[2])), slope_fit_intercept = jnum(unname(coef(g1)[1])))

# 5. Correlation and agreement of continuous predictions (kPa), with ties.
nk <- 80; ref <- round(exp(rnorm(nk, log(3), 0.35)), 1); pred <- round(ref + rnorm(nk, 0.15, 0.5), 1)
cp <- cor.test(pred, ref, method = "pearson")
cs <- suppressWarnings(cor.test(pred, ref, method = "spearman", exact = FALSE))
rho <- unname(cs$estimate); se_bw <- sqrt((1 + rho^2 / 2) / (nk - 3))
d <- pred - ref; tt <- t.test(d)
sdd <- sd(d); loa <- mean(d) + c(-1, 1) * qnorm(0.975) * sdd; tq <- qt(0.975, nk - 1); seL <- sdd * sqrt(3 / nk)
res$continuous <- obj(predicted = jnum(pred), reference = jnum(ref),
  pearson_r = jnum(unname(cp$estimate)), pearson_ci95 = jnum(as.numeric(cp$conf.int)), pearson_p = jnum(cp$p.value),
  spearman_r = jnum(rho), spearman_ci95 = jnum(tanh(atanh(rho) + c(-1, 1) * qnorm(0.975) * se_bw)), spearman_p = jnum(cs$p.value),
  bias = jnum(mean(d)), bias_ci95 = jnum(as.numeric(tt$conf.int)), sd_diff = jnum(sdd), mae = jnum(mean(abs(d))),
  rmse = jnum(sqrt(mean(d^2))), loa = jnum(loa), loa_lower_ci95 = jnum(loa[1] + c(-1, 1) * tq * seL),
  loa_upper_ci95 = jnum(loa[2] + c(-1, 1) * tq * seL))

# 6. Wilson intervals (prop.test without continuity correction), including the edges.
wx <- c(0, 1, 7, 13, 29, 50, 99, 100); wn <- c(10, 1, 19, 13, 31, 100, 100, 100)
res$wilson <- paste0("[", paste(mapply(function(x, nn) obj(x = x, n = nn, ci95 = jnum(as.numeric(prop.test(x, nn, correct = FALSE)$conf.int)),
  ci90 = jnum(as.numeric(prop.test(x, nn, correct = FALSE, conf.level = 0.9)$conf.int))), wx, wn), collapse = ","), "]")

# 7. Distribution functions.
zx <- c(-38, -9, -5.8, -3.3, -1.96, -0.5, 0, 0.3, 0.9, 2.4, 6, 12)
pq <- c(1e-250, 1e-12, 1e-4, 0.0125, 0.025, 0.2, 0.5, 0.77, 0.975, 0.9999)
tx <- c(-12, -2.5, -0.4, 0.1, 1.7, 30); tdf <- c(1, 2.5, 7, 30.3, 512, 2e5)
res$distributions <- obj(pnorm_x = jnum(zx), pnorm = jnum(pnorm(zx)), qnorm_p = jnum(pq), qnorm = jnum(qnorm(pq)),
  pt_x = jnum(tx), pt_df = jnum(tdf), pt = jnum(pt(tx, tdf)), qt_p = jnum(pq[3:10]), qt_df = jnum(c(1, 3, 9.5, 40, 100, 3, 12, 1000)),
  qt = jnum(qt(pq[3:10], c(1, 3, 9.5, 40, 100, 3, 12, 1000))))

writeLines(paste0("{", paste0('"', names(res), '":', unlist(res), collapse = ",\n"), "}"), out)
