"""RNNLM: the protocol (step == score), weight tying, save/load, and that each cell learns."""
import json

import pytest
import torch

from lmkit.checkpoint.save_load import load_model, save_model
from lmkit.errors import CheckpointError, ConfigError
from lmkit.models.neural.heads import AUTO_ADAPTIVE_VOCAB
from lmkit.models.neural.rnn import CELLS, RNNConfig, RNNLM
from lmkit.text.tokenizers import WordTokenizer, fit_tokenizer

LINES = ["我的手机坏了", "我打算买一部新手机", "the cat sat on the mat", "a dog ran"]


@pytest.fixture(scope="module")
def tokenizer():
    return fit_tokenizer("char", LINES)


def small(vocab, cell, **kw):
    torch.manual_seed(0)
    return RNNLM(vocab, RNNConfig(cell=cell, emb_size=12, hidden_size=12, layers=2, dropout=0.0, out_dropout=0.0, **kw))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_step_by_step_equals_score(tokenizer, cell):
    model = small(tokenizer.vocab, cell).eval()
    ids = torch.tensor([[2] + tokenizer.encode(LINES[0]) + [3], [2] + tokenizer.encode(LINES[2][:6]) + [3]])
    scored = model.score(ids)  # (B, T-1)
    state, columns = model.init_state(2), []
    for t in range(ids.shape[1] - 1):
        logp, state = model.step(ids[:, t], state)
        assert torch.allclose(logp.exp().sum(-1), torch.ones(2), atol=1e-5)
        columns.append(logp.gather(1, ids[:, t + 1 : t + 2]))
    assert torch.allclose(torch.cat(columns, 1), scored, atol=1e-5)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_each_cell_learns(tokenizer, cell):
    model = small(tokenizer.vocab, cell)
    stream = torch.tensor([[2] + tokenizer.encode("\n".join(LINES)) + [3]])
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(80):
        logp, _ = model(stream[:, :-1], stream[:, 1:], model.init_state(1))
        loss = -logp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_tied_weights_share_one_matrix_and_sizes_must_match(tokenizer):
    model = RNNLM(tokenizer.vocab, RNNConfig(emb_size=16, hidden_size=16, tie_weights=True))
    assert model.head.linear.weight is model.embedding.weight
    with pytest.raises(ConfigError, match="--tie-weights needs --emb-size equal to --hidden-size"):
        RNNLM(tokenizer.vocab, RNNConfig(emb_size=8, hidden_size=16, tie_weights=True))


def test_unknown_cell_is_refused(tokenizer):
    with pytest.raises(ConfigError, match="--cell must be one of rnn_tanh, rnn_relu, gru, lstm, got 'lstmm'"):
        RNNLM(tokenizer.vocab, RNNConfig(cell="lstmm"))


@pytest.mark.parametrize("tie", [False, True])
def test_save_load_gives_identical_logits(tmp_path, tokenizer, tie):
    model = small(tokenizer.vocab, "gru", tie_weights=tie).eval()
    save_model(tmp_path, model, tokenizer)
    loaded, loaded_tok, config = load_model(tmp_path)
    assert config["kind"] == "gru" and loaded_tok.vocab == tokenizer.vocab
    ids = torch.tensor([[2] + tokenizer.encode(LINES[1]) + [3]])
    assert torch.equal(model.score(ids), loaded.eval().score(ids))
    if tie:
        assert loaded.head.linear.weight is loaded.embedding.weight


def test_weights_of_another_shape_are_refused(tmp_path, tokenizer):
    save_model(tmp_path, small(tokenizer.vocab, "lstm"), tokenizer)
    config = (tmp_path / "config.json").read_text().replace('"hidden_size": 12', '"hidden_size": 14')
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(CheckpointError, match="shape"):
        load_model(tmp_path)


def test_malicious_weights_file_is_refused(tmp_path, tokenizer):
    save_model(tmp_path, small(tokenizer.vocab, "lstm"), tokenizer)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    import pickle
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(tmp_path)
    assert not marker.exists()


def test_adaptive_softmax_is_a_proper_distribution_and_step_equals_score():
    from lmkit.text.vocab import SPECIALS, Vocab

    vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(1200)])
    torch.manual_seed(0)
    model = RNNLM(vocab, RNNConfig(cell="gru", emb_size=8, hidden_size=16, layers=1, softmax="adaptive")).eval()
    ids = torch.randint(4, len(vocab), (2, 6))
    state, columns = model.init_state(2), []
    for t in range(5):
        logp, state = model.step(ids[:, t], state)  # (B, V)
        assert torch.allclose(logp.exp().sum(-1), torch.ones(2), atol=1e-4)
        columns.append(logp.gather(1, ids[:, t + 1 : t + 2]))
    assert torch.allclose(torch.cat(columns, 1), model.score(ids), atol=1e-5)


def test_adaptive_softmax_needs_a_large_vocabulary(tokenizer):
    with pytest.raises(ConfigError, match="--softmax adaptive needs a vocabulary of at least 1000 types"):
        RNNLM(tokenizer.vocab, RNNConfig(softmax="adaptive"))


@pytest.mark.parametrize("model", ["lstm", "bilstm"])
def test_adaptive_softmax_needs_sixteen_features_to_read(model):
    """Its last cluster reads a projection to 1/16 of the softmax's inputs: fewer would leave it none (a zero-width
    layer, every word of that cluster equally likely). A BiLSTM's softmax reads both directions (2 x hidden)."""
    from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
    from lmkit.text.vocab import SPECIALS, Vocab

    vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(1200)])
    build = ((lambda h: RNNLM(vocab, RNNConfig(hidden_size=h, layers=1, softmax="adaptive"))) if model == "lstm"
             else (lambda h: ClozeRNN(vocab, ClozeConfig(hidden_size=h // 2, layers=1, softmax="adaptive"))))
    source = r"--hidden-size" if model == "lstm" else r"2 x --hidden-size 7, one per direction"
    with pytest.raises(ConfigError, match=r"--softmax adaptive needs a softmax reading at least 16 features .* "
                                          rf"this model's reads 14 \(from {source}\)"):
        build(14)
    assert build(16).head.asm.tail[1][0].out_features == 1


@pytest.mark.parametrize("types, options, head", [
    (10_000, {}, "adaptive"),                               # a word vocabulary: the full softmax is most of the work
    (4_000, {}, "adaptive"),                                # modern Chinese characters, subwords: most of it too
    (3_999, {}, "full"),                                    # English characters, a small Chinese corpus's
    (10_000, {"tie_weights": True, "emb_size": 256}, "full"),  # one output matrix, the embedding's
    (10_000, {"hidden_size": 15}, "full"),                  # too few features for its last cluster
    (1_200, {"softmax": "adaptive"}, "adaptive"),           # asked: as asked
    (20_000, {"softmax": "full"}, "full"),
])
def test_softmax_auto_is_adaptive_for_large_vocabularies_and_recorded_as_built(tmp_path, types, options, head):
    from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
    from lmkit.text.vocab import SPECIALS, Vocab

    vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(types - len(SPECIALS))])
    model = RNNLM(vocab, RNNConfig(layers=1, **{"emb_size": 8, **options}))
    assert model.cfg.softmax == head and type(model.head).__name__ == f"{head.capitalize()}Softmax"
    save_model(tmp_path / "m", model, WordTokenizer(vocab))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["softmax"] == head
    assert load_model(tmp_path / "m")[0].cfg.softmax == head
    if "tie_weights" not in options:  # a BiLSTM's softmax reads both directions: the same rule on 2 x hidden
        cloze = ClozeRNN(vocab, ClozeConfig(layers=1, emb_size=8, **{"hidden_size": 8, **options}))
        auto = "adaptive" if types >= AUTO_ADAPTIVE_VOCAB and 2 * cloze.cfg.hidden_size >= 16 else "full"
        assert cloze.cfg.softmax == options.get("softmax", auto)


def test_a_model_saved_before_softmax_existed_loads_with_the_full_one(tmp_path):
    from lmkit.text.vocab import SPECIALS, Vocab

    vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(10_000)])
    save_model(tmp_path / "m", RNNLM(vocab, RNNConfig(layers=1, emb_size=8, hidden_size=16, softmax="full")),
               WordTokenizer(vocab))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    del config["model"]["softmax"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    assert load_model(tmp_path / "m")[0].cfg.softmax == "full"  # not auto's adaptive, which its weights do not fit
