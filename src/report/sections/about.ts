// "How to read this report": what each scheme, statistic and plot means.
export function aboutSection(): string {
  return `<section id="about">
<h2>How to read this report</h2>
<ul class="about">
<li><strong>Schemes.</strong> cv10: ten patient-grouped folds stratified by site and by the 3.0 kPa label, out-of-fold
predictions pooled. temporal: trained on exams before a split date, tested on later exams of patients never seen in
training. loso: each site in turn is the test set, predictions pooled over sites. No patient is ever on both sides of a
split.</li>
<li><strong>AUROC.</strong> Probability that a randomly chosen exam at or above the threshold gets a higher score than one
below it. DeLong's interval treats exams as independent; the bootstrap resamples whole patients (repeat exams stay
together), stratified by class, and is the safer interval when patients have several exams.</li>
<li><strong>Cut-off metrics.</strong> Each fold chooses its own Youden cut-off on its inner validation part (10% of its
training patients) and applies it unchanged to its test exams, as a deployed model would. Wilson score intervals.</li>
<li><strong>Calibration.</strong> Intercept (calibration-in-the-large) and slope from logistic recalibration on the logit of
the predicted probability; ECE is the exam-weighted mean gap between the reliability points and the diagonal.</li>
<li><strong>Oracle ceiling.</strong> Only for synthetic cohorts: the AUROC of the hidden true stiffness against the measured
(noisy) MRE label, the best any model could reach on those labels. The share of attainable gain,
(AUROC \u2212 0.5) / (oracle \u2212 0.5), says how much of the way from chance to that ceiling a recipe goes.</li>
<li><strong>Paired comparisons.</strong> Recipes are compared on the exams both predicted with the paired DeLong test,
clustered by patient: repeat exams of one patient are not independent, and treating them as such makes intervals too
narrow. The unclustered p is shown beside the clustered one.</li>
<li><strong>Decision curves.</strong> Net benefit weighs true positives against false positives at the odds a clinician
would accept for calling an exam stiff; a recipe helps where its curve is above both treat-all and treat-none.</li>
<li><strong>Published numbers.</strong> DeepLiverNet 2.0's AUROCs come from its authors' cohort, not from this run's data;
they frame the order of magnitude, they are not a paired comparison.</li>
</ul>
</section>`;
}
