"""Command-line reports that confirm (or refute) the paper numerically.

Each report module is a CLI (``python -m validation.<name>``) with ``build_parser()`` and
``main(argv=None)``; the shared report contract (table or ``--json``, exit 0 confirmed / 1
refuted / 2 bad usage, negative controls) is :mod:`validation._report`.

* ``theorem1``, ``crypto_lemma``, ``kl_identity``, ``figure2``: the paper's mathematics;
* ``audit``: every checkable claim of the paper, one row each (docs/audit.md);
* ``train_vs_inference``: trained models, training loss (5) vs inference loss (9) + (10);
* ``table2``: our test NLL beside the paper's Tables 2, 3, 5/6 (``paper_tables``: the transcription);
* ``plots``: training curves, NLL against the lattice's NSM, Figure 2 (PNGs for docs/results.md);
* ``experiments``: Table 2 in the paper's layout, Table 4, convergence runs, a verdict per
  experimental claim (Sec. 4.1 / 7.1);
* ``paired``: two or more runs on the same test images, paired SEs averaged over evaluation seeds;
* ``bitstream``: real file bits against the code length (10).
"""
__all__ = ["audit", "bitstream", "crypto_lemma", "experiments", "figure2", "kl_identity", "paired", "paper_tables",
           "plots", "table2", "theorem1", "train_vs_inference"]
