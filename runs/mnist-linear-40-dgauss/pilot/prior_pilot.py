"""Pilot of the number of components C: refit only the prior on a frozen encoder, compare mean code lengths.

Run: PYTHONPATH=. python runs/mnist-linear-40-dgauss/pilot/prior_pilot.py RUN_DIR N_TRAIN EPOCHS LR C1 C2 ...
(RUN_DIR holds best.pt + config.json, e.g. a copy of the E8 h32 run at epoch 12; C = 0: the paper prior,
C = -1: the run's own jointly trained prior).  components.log: 50000 3 3e-3 1 2 4 8;
paper_vs_dgauss.log: 50000 3 3e-3 2 -1 0.  One thread, seeds 0 (refit) and 123 (test dithers).

The prior never reaches the encoder/decoder (eq. (6): e detached), so with the encoder fixed and the same
seeded dithers, differences of the mean code length between priors are differences of excess code length.
"""
import math, sys, time
import torch
from vae import data as vdata
from vae.train import load_run
from theory.discrete_gaussian_prior import DiscreteGaussianPrior
from validation.train_vs_inference import select_images

src, n_train, epochs, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(1)
model, config = load_run(src)
lat = model.latent
R = lat.n_blocks
xtr = vdata.load_dataset("mnist", "train")[:n_train]
xte = select_images(vdata.load_dataset("mnist", "test"), 1000, "spread")
delta = lat.delta().detach().double()
with torch.no_grad():
    etr, ete = model.encoder(xtr), model.encoder(xte)

def quantized(e, gen, dithers=1):
    v = lat._cell((e.shape[0], dithers), gen, e.device)
    eb = lat._blocks(e)[:, None].expand(e.shape[0], dithers, R, lat.block_dim)
    return lat._quantize(eb, v, delta), v

gte = torch.Generator().manual_seed(123)
cte, vte = quantized(ete, gte, 8)                        # the same test points/dithers for every prior
ratio = float((lat.log_sigma2_s - lat.log_sigma2_u).exp().mean().detach())
s0 = math.sqrt(math.exp(-2 * lat._log_delta0) * (1 + ratio))
for C in [int(c) for c in sys.argv[5:]]:
    torch.manual_seed(0)
    if C == 0:                                           # C = 0: the paper's prior (Sec. 3.4, K=64, t=3, escape)
        from theory.lattice_prior import LatticePrior
        from vae.latents.proxy import PRIOR_DEFAULTS
        prior = LatticePrior(lat.base, *PRIOR_DEFAULTS[lat.base.name], n_blocks=R, escape=True)
    elif C < 0:                                          # C = -1: the run's own (jointly trained) prior, no refit
        prior = lat.prior
    else:
        prior = DiscreteGaussianPrior(lat.base, n_blocks=R, components=C, init_scale=s0)
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for ep in range(epochs if C >= 0 else 0):
        perm = torch.randperm(n_train, generator=g)
        for i in range(0, n_train, 100):
            c, v = quantized(etr[perm[i:i + 100]], g)
            loss = -prior.log_prob_coords(c, v).sum(-1).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        if C == 0:
            with torch.no_grad():
                print(f"   paper prior after epoch {ep + 1}: {float(-prior.log_prob_coords(cte, vte).sum(-1).mean()):.4f}", flush=True)
    with torch.no_grad():
        code = -prior.log_prob_coords(cte, vte).sum(-1)          # (1000, 8)
    per_img = code.mean(1)
    print(f"C={C}: test code length {per_img.mean():.4f} +- {per_img.std() / math.sqrt(1000):.4f} nats "
          f"(1000 spread test images x 8 dithers, seed 123; refit {epochs} x {n_train} images, lr {lr}; "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)
    if C == int(sys.argv[5]):
        base = per_img
    else:
        d = per_img - base
        print(f"   C={C} minus C={sys.argv[5]}: {d.mean():.4f} +- {d.std() / math.sqrt(1000):.4f} (paired)", flush=True)
