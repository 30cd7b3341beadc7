"""Absorption holes: where a pattern holds but its best latent stays silent, and who fires there.

    python examples/absorption_holes.py [--store DIR] [--sae CKPT] [--atom '"\\d+"']

1. rank the latents against a single-token pattern (``--atom``) and take the best one, ``L``;
2. search ``[ATOM & !L]``: the positives that ``L`` misses, its *hole*;
3. the latents ranked on the hole are the ones that *absorbed* those cases (in a Matryoshka SAE,
   typically later, more specific latents). ``tokrex search --holes`` gives the same list.
"""

from __future__ import annotations

import sys

from _common import parser, print_latents

ATOM = r'"\d+"'


def main(argv: list[str] | None = None) -> int:
    import tokrex
    from tokrex.query import search_info

    p = parser(__doc__)
    p.add_argument("--atom", default=ATOM, help="a single-token pattern (a regex atom or a [...] class)")
    args = p.parse_args(argv)
    corpus = tokrex.open_corpus(args.store)

    best = tokrex.search(args.atom, sae=args.sae, store=corpus, top=1, holes=True, holes_for=1, holes_top=args.top)
    if best.num_rows == 0:
        print(f"{args.atom} has no positives in this store.")
        return 0
    top = best.to_pylist()[0]
    latent = top["latent"]
    print(f"best latent for {args.atom}: L{latent}, F1 {top['f1']:.3f}, misses {top['fn']:,} positives")

    hole = f"[{args.atom} & !L{latent}]"
    table = tokrex.search(hole, sae=args.sae, store=corpus, top=args.top)
    print(f"the hole {hole} holds {search_info(table)['n_positives']:,} tokens")
    print_latents(table, "latents that fire in the hole")
    absorbers = ", ".join(f"L{h['latent']} ({h['share']:.0%})" for h in top["holes"] or [])
    print(f"tokrex search --holes (share of the hole each covers): {absorbers or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
