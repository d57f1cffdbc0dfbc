// Package fit estimates, from attempt logs, the parameters the engine loads
// through its catalog: per-skill BKT parameters and per-item Elo
// difficulties.
//
// # BKT by EM
//
// FitBKT runs Baum-Welch over every learner-skill sequence of one skill (an
// answer credits every skill of its item, as the engine does). The hidden
// state is known/unknown, with transitions unknown→known T and known→unknown
// F (forgetting, as pyBKT's forgets=True; fixed to 0 when forgetting is
// off), and emissions P(correct|unknown) = G, P(correct|known) = 1-S. The
// forward pass is the engine's own arithmetic: mastery.BKT.PCorrect gives
// the likelihood of each answer and mastery.BKT.Update the next P(known);
// the filtered posterior before the transition is Update with T = F = 0.
// The backward pass and the expected counts are the textbook scaled
// recursions. Each skill is fitted from several random starts (seeded, so a
// fit is reproducible); the best log-likelihood among the non-degenerate
// fits wins (mastery.BKT.Validate: G and S below 0.5). A skill with too
// little data (fewer than MinSequences sequences or MinAnswers answers) or
// with no non-degenerate fit falls back to the cold-start streak rule: it is
// listed in the catalog without parameters.
//
// # Elo difficulties
//
// FitElo runs the engine's Elo update (mastery.Elo.Update, ability per
// learner-skill) over the training answers in time order, and moves each
// item's difficulty the other way with a step that shrinks with the item's
// answer count, 1/(1 + 0.05 n) (Pelánek's uncertainty function). Two passes
// are made; the second starts abilities afresh with the difficulties of the
// first. An item never answered in training gets the mean difficulty of the
// answered items sharing its skills.
//
// # Catalog
//
// Catalog assembles both into processor/catalog's File: content → skills
// and difficulty, skill → BKT parameters (omitted for cold-start skills).
package fit
