"""Words inside double quotes: where they are, and which latents explain them.

    python examples/quoted_words.py [--store DIR] [--sae CKPT] [--show 5]

``"\\"" @<"\\w+"> "\\""`` matches a quote, one word, a quote; ``@`` makes the word's tokens the
positives (not the quotes). The matches come from ``tokrex.compile`` run over the corpus
(no SAE needed), the ranking from ``tokrex.search``.
"""

from __future__ import annotations

import sys

from _common import parser, print_latents

PATTERN = r'"\"" @<"\w+"> "\""'


def main(argv: list[str] | None = None) -> int:
    import tokrex

    p = parser(__doc__)
    p.add_argument("--pattern", default=PATTERN, help="the pattern (default: one word between double quotes)")
    p.add_argument("--show", type=int, default=5, help="matches to print")
    args = p.parse_args(argv)

    corpus = tokrex.open_corpus(args.store)
    program = tokrex.compile(args.pattern, corpus.vocab)
    found = program.run(corpus.ids, corpus.doc_offsets)
    print(f"{found.n_matches:,} matches, {found.n_positives:,} positive tokens")
    offsets = corpus.doc_offsets
    for doc, start, end in list(zip(found.match_doc, found.match_start, found.match_end))[: args.show]:
        base = int(offsets[doc])
        text = corpus.text(corpus.ids[base + max(0, start - 4) : base + end + 4])
        print(f"  doc {doc} tokens {start}..{end}: {text.strip()!r}")

    table = tokrex.search(args.pattern, sae=args.sae, store=corpus, top=args.top)
    print_latents(table, "words inside quotes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
