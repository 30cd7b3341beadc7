"""Export a search for a pipeline: JSON for people and scripts, Parquet for engines.

    python examples/export_results.py [--store DIR] [--sae CKPT] [--pattern P] [--out-dir DIR]

``tokrex.search`` returns an Arrow table (one row per latent: tp, fp, fn, precision, recall, f1,
cosine, ...) whose schema metadata carries the search summary. This writes ``search.parquet``
(metadata kept) and ``search.json`` (the same object as ``tokrex search --format json``), then
reads the Parquet back with DuckDB, as any other engine could. The CLI equivalent:
``tokrex search P --sae CKPT --format parquet --out search.parquet``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import parser

PATTERN = r'"\d+"'


def main(argv: list[str] | None = None) -> int:
    import duckdb
    import pyarrow.parquet as pq

    import tokrex
    from tokrex.query import search_info

    p = parser(__doc__)
    p.add_argument("--pattern", default=PATTERN, help="the pattern to rank latents against")
    p.add_argument("--out-dir", default=".", help="where to write search.parquet and search.json")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    table = tokrex.search(args.pattern, sae=args.sae, store=args.store, top=args.top)
    pq.write_table(table, out / "search.parquet")
    doc = {**search_info(table), "latents": table.drop_columns(["top_tokens"]).to_pylist()}
    (out / "search.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out / 'search.parquet'} and {out / 'search.json'} ({table.num_rows} latents)")

    path = str(out / "search.parquet")
    rows = duckdb.execute("SELECT latent, round(f1, 3) AS f1, tp, fp, fn FROM read_parquet(?) ORDER BY f1 DESC LIMIT 3",
                          [path]).fetchall()
    for latent, f1, tp, fp, fn in rows:
        print(f"  L{latent}: F1 {f1} (tp {tp}, fp {fp}, fn {fn})")
    print("summary from the Parquet metadata:", search_info(pq.read_table(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
