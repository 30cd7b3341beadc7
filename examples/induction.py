"""The induction pattern: a token that already occurred earlier in the same document.

    python examples/induction.py [--store DIR] [--sae CKPT] [--any]

``(?<a>"\\w+") .* \\k<a>``: a word ``a``, anything, then ``a`` again; the positive is the repeat
(where an induction head looks back to what followed ``a`` the first time). Captures compare core
texts, so `` Harry`` ... ``Harry`` counts as the same token. ``--any`` uses ``(?<a>.) .* \\k<a>``,
any repeated token, punctuation included. Both run on the matcher's vectorized path for
single-token captures.
"""

from __future__ import annotations

import sys

from _common import parser, print_latents

WORDS = r'(?<a>"\w+") .* \k<a>'
ANY = r"(?<a>.) .* \k<a>"


def main(argv: list[str] | None = None) -> int:
    import tokrex

    p = parser(__doc__)
    p.add_argument("--any", action="store_true", help="any repeated token, not only words")
    args = p.parse_args(argv)
    pattern = ANY if args.any else WORDS
    table = tokrex.search(pattern, sae=args.sae, store=args.store, top=args.top)
    print_latents(table, "induction (a repeated token)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
