"""The shared fixtures build real, loadable tokenizers and models."""


def test_gpt2_fixture_loads(gpt2_model_dir):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gpt2_model_dir)
    model = AutoModel.from_pretrained(gpt2_model_dir)
    ids = tok("Hello Alice")["input_ids"]
    assert ids and all(i < model.config.vocab_size for i in ids)
    assert model.config.n_layer == 2


def test_bert_fixture_adds_cls_sep(bert_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert_model_dir)
    ids = tok("hello alice")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
