"""Foreign SAE formats: one module per library, each with ``detect(folder)`` and ``load(folder)``.

- ``saelens``: SAELens folders (also written by ``tokrex sae export --format saelens``);
- ``sparsify``: EleutherAI sparsify hookpoint folders;
- ``dictionary_learning``: dictionary_learning ``ae.pt`` + ``config.json`` folders.

``tokrex.sae.load.load_sae`` picks the right one from the files.
"""
