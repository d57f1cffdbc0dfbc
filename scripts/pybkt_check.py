#!/usr/bin/env python3
"""Compare pyBKT's one-step predictions with unpair's on the same parameters
and sequences. Usage: pybkt_check.py UNPAIR_BINARY. Exits 1 on a mismatch
above 1e-9."""
import json
import subprocess
import sys
import tempfile

import numpy as np
from pyBKT.fit import predict_onestep, EM_fit

TOL = 1e-9


def cases():
    rng = np.random.default_rng(20240611)
    out = [  # the worked case of processor/mastery, with and without forgetting
        ({"l0": 0.827, "t": 0.18, "f": 0.0127, "g": 0.266, "s": 0.148}, None),
        ({"l0": 0.3, "t": 0.1, "f": 0.0, "g": 0.2, "s": 0.1}, None),
    ]
    for _ in range(20):
        p = {"l0": rng.uniform(0.01, 0.99), "t": rng.uniform(0.0, 0.6), "f": rng.uniform(0.0, 0.3),
             "g": rng.uniform(0.01, 0.49), "s": rng.uniform(0.01, 0.49)}
        out.append((p, None))
    res = []
    for p, _ in out:
        seqs = [[int(x) for x in rng.integers(0, 2, size=int(rng.integers(1, 25)))] for _ in range(12)]
        res.append((p, seqs))
    return res


def pybkt(p, seqs):
    flat = [c for s in seqs for c in s]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    starts = np.cumsum(np.concatenate(([1], lengths[:-1]))).astype(np.int64)
    data = {
        "data": np.array([[c + 1 for c in flat]], dtype=np.int32),  # 1 wrong, 2 correct
        "starts": starts,
        "lengths": lengths,
        "resources": np.ones(len(flat), dtype=np.int64),
    }
    model = {
        "learns": np.array([p["t"]]), "forgets": np.array([p["f"]]),
        "guesses": np.array([p["g"]]), "slips": np.array([p["s"]]),
        "prior": p["l0"],
    }
    correct, states = predict_onestep.run(model, data, parallel=False)
    # log-likelihood of the data under the parameters: one E step.
    r = EM_fit.run(data, model, np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), np.zeros((2, 1)), 1, parallel=False)
    return np.asarray(correct), np.asarray(states[1]), float(np.asarray(r["total_loglike"]).ravel()[0])


def ours(binary, p, seqs):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"params": p, "sequences": seqs}, f)
        path = f.name
    out = subprocess.run([binary, "fit", "--predict", path], check=True, capture_output=True, text=True).stdout
    o = json.loads(out)
    return np.array([x for s in o["correct"] for x in s]), np.array([x for s in o["known"] for x in s]), o["loglik"]


def main():
    if len(sys.argv) != 2:
        print("usage: pybkt_check.py UNPAIR_BINARY", file=sys.stderr)
        return 2
    worst, n = 0.0, 0
    for i, (p, seqs) in enumerate(cases()):
        pc, pk, pll = pybkt(p, seqs)
        oc, ok, oll = ours(sys.argv[1], p, seqs)
        if pc.shape != oc.shape:
            print(f"case {i}: {len(oc)} predictions, pyBKT gave {len(pc)}", file=sys.stderr)
            return 1
        d = max(np.max(np.abs(pc - oc)), np.max(np.abs(pk - ok)), abs(pll - oll) / max(1.0, abs(pll)))
        worst = max(worst, d)
        n += len(oc)
        if d > TOL:
            print(f"case {i}: params {p}: difference {d:.3g} > {TOL} (P(correct) max {np.max(np.abs(pc - oc)):.3g}, "
                  f"P(known) max {np.max(np.abs(pk - ok)):.3g}, loglik {pll} vs {oll})", file=sys.stderr)
            return 1
    print(f"pybkt_check: {n} predictions and {len(cases())} log-likelihoods equal to pyBKT within {TOL} (largest difference {worst:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
