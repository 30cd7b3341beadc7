"""Load a SAELens SAE, see what it reads, and search with it.

    python examples/load_saelens.py SAE_DIR [--store DIR] [--model M] [--pattern P]

``tokrex.load_sae`` detects the format from the files (SAELens: ``cfg.json`` +
``sae_weights.safetensors``; also sparsify, dictionary_learning and tokrex's own) and reads the
model and layer from the config (``hook_name`` ``blocks.3.hook_resid_post`` means layer 3).
Searching encodes the store with that model and layer first; ``--model`` points at a local copy
of the model when the name it records is not in the local Hugging Face cache.
"""

from __future__ import annotations

import sys

from _common import parser, print_latents

PATTERN = r'"\d+"'


def main(argv: list[str] | None = None) -> int:
    import tokrex
    from tokrex.store import ensure_firings

    p = parser(__doc__, sae=False)
    p.add_argument("sae_dir", help="the SAELens folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--model", default=None, help="model directory to run instead of the one the SAE names")
    p.add_argument("--pattern", default=PATTERN, help="the pattern to rank the SAE's latents against")
    args = p.parse_args(argv)

    sae = tokrex.load_sae(args.sae_dir)
    meta, arch = sae.meta, sae.arch
    print(f"format {meta.format}: {arch.activation}, d_in {arch.d_in}, {arch.n_latents:,} latents; "
          f"model {meta.model}, layer {meta.layer} ({meta.hook}), context {meta.ctx}")

    corpus = tokrex.open_corpus(args.store)
    firings = ensure_firings(corpus, sae, progress=False, **({"model": args.model} if args.model else {}))
    table = tokrex.search(args.pattern, sae=firings, store=corpus, top=args.top)
    print_latents(table, "SAELens SAE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
