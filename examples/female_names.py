"""Which latents fire on female first names?

    python examples/female_names.py [--store DIR] [--sae CKPT] [--names Mary,Emma,...]

The pattern is a word atom over a list of names, case-insensitive (``i``) so that it works with
uncased tokenizers too, and ``@`` marks every token of the name (a rare name is often split into
several tokens: ``her`` ``##mi`` ``##one``). Each latent is ranked by F1 against those tokens.
"""

from __future__ import annotations

import re
import sys

from _common import parser, print_latents

NAMES = ("Mary", "Emma", "Olivia", "Sophia", "Alice", "Hermione", "Elizabeth", "Anna", "Sarah", "Jane", "Emily",
         "Charlotte", "Margaret", "Susan", "Linda", "Barbara", "Jennifer", "Lisa", "Laura", "Grace", "Julia", "Lucy")


def names_pattern(names: list[str]) -> str:
    """``@<"(?:mary|emma|...)"i>``: every token of one of ``names``, as a whole word."""
    bad = [n for n in names if not re.fullmatch(r"\w+", n)]
    if bad:
        raise SystemExit(f"names must be single words, got {', '.join(bad)}")
    return '@<"(?:' + "|".join(n.lower() for n in names) + ')"i>'


def main(argv: list[str] | None = None) -> int:
    import tokrex

    p = parser(__doc__)
    p.add_argument("--names", default=",".join(NAMES), help="comma-separated first names")
    args = p.parse_args(argv)
    pattern = names_pattern([n.strip() for n in args.names.split(",") if n.strip()])
    table = tokrex.search(pattern, sae=args.sae, store=args.store, top=args.top)
    print_latents(table, "female first names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
