"""The induction pattern: tokens that complete a pair seen earlier in the same document.

    python examples/induction.py [--store DIR] [--sae CKPT]

``(?<a>"\\w+") (?<b>.) .* \\k<a> @\\k<b>``: a word ``a`` followed by ``b``, later ``a`` again, and
the positive is the ``b`` that repeats (the token an induction head predicts). Captures compare
core texts, so `` Harry`` ... ``Harry`` counts as the same token. ``--simple`` uses the shorter
``(?<a>.) .* \\k<a>`` (any token that repeats an earlier one).
"""

from __future__ import annotations

import sys

from _common import parser, print_latents

PAIR = r'(?<a>"\w+") (?<b>.) .* \k<a> @\k<b>'
SIMPLE = r"(?<a>.) .* \k<a>"


def main(argv: list[str] | None = None) -> int:
    import tokrex

    p = parser(__doc__)
    p.add_argument("--simple", action="store_true", help="any repeated token instead of a repeated pair's second token")
    args = p.parse_args(argv)
    pattern = SIMPLE if args.simple else PAIR
    table = tokrex.search(pattern, sae=args.sae, store=args.store, top=args.top)
    print_latents(table, "induction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
