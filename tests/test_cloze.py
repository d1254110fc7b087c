"""The bidirectional cloze models: no leak of x_t into its own prediction, both sides read, padding and
save/load change nothing, training per whole line, and fill with one model."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lmkit.checkpoint.save_load import load_model, save_model
from lmkit.errors import CheckpointError, ConfigError
from lmkit.evaluate.cloze import cloze_token_logprobs, pseudo_nll
from lmkit.generate.cloze_fill import cloze_fill, framed
from lmkit.models.neural.cloze import CLOZE_CELLS, JOINS, ClozeConfig, ClozeRNN
from lmkit.text.encode import encode_lines
from lmkit.text.lines import batch_rows, cut_long_lines, frame_lines, line_batches, stream_lines
from lmkit.text.tokenizers import CharTokenizer
from lmkit.text.vocab import EOS_ID
from lmkit.train.line_batches import LineBatches
from test_fill import ONE_TOKEN


def tiny(kind: str = "bilstm", vocab_size: int = 12, layers: int = 2, seed: int = 0, join: str = "layer",
         shared: bool = False) -> ClozeRNN:
    torch.manual_seed(seed)
    tokenizer = CharTokenizer.fit(["abcdefgh"[: vocab_size - 4]])
    config = ClozeConfig(kind=kind, emb_size=8, hidden_size=12, layers=layers, dropout=0.0, out_dropout=0.0, join=join,
                         shared_embedding=shared)
    model = ClozeRNN(tokenizer.vocab, config).eval()
    if join == "layer":  # a new join layer adds nothing yet (see below): give it weights, as training would
        torch.nn.init.normal_(model.join.write.weight, std=0.5)
    if join == "project":  # its default init shrinks what far tokens change below the tests' tolerance
        torch.nn.init.normal_(model.join.read.weight, std=0.5)
    return model


def predictions(model, ids: list[int]) -> torch.Tensor:
    """(L, V) cloze log-probs of the framed line `<s> ids </s>`."""
    framed, lengths = frame_lines([np.asarray([*ids, EOS_ID])])
    with torch.no_grad():
        return model.cloze_logprobs(framed, lengths)[0]


@pytest.mark.parametrize("kind", sorted(CLOZE_CELLS))
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("join", JOINS)
@pytest.mark.parametrize("one_table", [False, True])
def test_changing_a_token_never_changes_its_own_prediction(kind, layers, join, one_table):
    model = tiny(kind, layers=layers, join=join, shared=one_table)
    line = [4, 5, 6, 7, 8, 9, 10]
    before = predictions(model, line)
    for t in range(len(line)):
        for other in (4, 11, 1):
            changed = line.copy()
            changed[t] = other
            after = predictions(model, changed)
            torch.testing.assert_close(after[t + 1], before[t + 1], rtol=0, atol=1e-6)  # +1: `<s>` is position 0


@pytest.mark.parametrize("kind", sorted(CLOZE_CELLS))
@pytest.mark.parametrize("distance", [1, 2, 4])
@pytest.mark.parametrize("join", JOINS)
def test_the_prediction_reads_both_sides(kind, distance, join):
    model = tiny(kind, join=join)
    line = [4, 5, 6, 7, 8, 9, 10, 11]
    before = predictions(model, line)
    t = 3
    for neighbour in (t + distance, t - distance):
        if 0 <= neighbour < len(line):
            changed = line.copy()
            changed[neighbour] = 4 if line[neighbour] != 4 else 5
            after = predictions(model, changed)
            assert (after[t + 1] - before[t + 1]).abs().max() > 1e-4, (neighbour, t)


def test_the_join_layer_lets_the_two_sides_interact_where_the_sum_cannot():
    """Under --join sum the log-probs are f(left state) + g(right state) - log Z, so the change a new right side
    makes is the same whatever the left side is; the join layer's is not (its tanh reads both sides together)."""
    torch.manual_seed(0)
    lefts, rights = torch.randn(2, 12), torch.randn(2, 12)  # two forward states A_{t-1}, two backward A'_{t+1}

    def effect_of_the_right_side(model, left: torch.Tensor) -> torch.Tensor:  # (V,) change of the log-probs
        logp = [model.head.log_probs(model.join(torch.cat([left, right])[None]))[0] for right in rights]
        return logp[1] - logp[0]

    for join, interacts in (("sum", False), ("layer", True), ("project", True)):
        model = tiny(join=join)
        with torch.no_grad():
            change = effect_of_the_right_side(model, lefts[0]) - effect_of_the_right_side(model, lefts[1])
        change = change - change.mean()  # the normaliser's change is one constant across the vocabulary
        assert bool(change.abs().max() > 1e-2) is interacts, (join, change)


def test_the_projection_join_gives_the_softmax_one_directions_width():
    """--join project: the softmax reads H features, not 2H, so it costs what one direction's softmax does."""
    model = tiny(join="project", layers=1)
    ids = torch.tensor([[2, 4, 5, 6, 3]])
    assert model.features(ids, torch.tensor([5])).shape == (1, 4, 12)            # (N, L-1, H)
    assert model.head.linear.in_features == 12 and model.join.read.in_features == 24
    logp = predictions(model, [4, 5, 6])
    torch.testing.assert_close(logp[1:].exp().sum(-1), torch.ones(4))


def test_a_projection_too_narrow_for_the_adaptive_softmax_names_the_hidden_size():
    with pytest.raises(ConfigError, match="--hidden-size 8"):
        ClozeConfig(hidden_size=8, join="project", softmax="adaptive").validate()
    ClozeConfig(hidden_size=8, join="layer", softmax="adaptive").validate()  # 2 x 8 features: enough


def test_a_new_join_layer_passes_the_states_through_unchanged():
    """Its output matrix starts at zero: training starts from the sum form and learns what to add."""
    model = ClozeRNN(tiny().vocab, ClozeConfig(emb_size=8, hidden_size=12, layers=1))
    states = torch.randn(3, 5, 24)
    torch.testing.assert_close(model.join(states), states, rtol=0, atol=0)


@pytest.mark.parametrize("option, value", [("join", "sum"), ("shared_embedding", False)])
def test_a_model_saved_before_an_option_existed_loads_as_it_was_built(tmp_path, option, value):
    """A config.json without the key was written before the option: the model then had what it now gets with
    the value the option would have had, not the option's default today."""
    model = tiny(join="sum", shared=False)
    save_model(tmp_path / "m", model, CharTokenizer.fit(["abcdefgh"]), {})
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    del config["model"][option]  # as written before the option existed
    config_path.write_text(json.dumps(config))
    loaded = load_model(tmp_path / "m")[0].eval()
    assert getattr(loaded.cfg, option) == value
    torch.testing.assert_close(predictions(loaded, [4, 5, 6]), predictions(model, [4, 5, 6]), rtol=0, atol=0)


@pytest.mark.parametrize("option, saved, edited", [("join", "layer", "sum"), ("join", "sum", "layer"),
                                                   ("join", "project", "layer"), ("join", "layer", "project"),
                                                   ("shared_embedding", True, False),
                                                   ("shared_embedding", False, True)])
def test_a_config_edited_to_the_other_form_is_named_not_the_weights_file(tmp_path, option, saved, edited):
    """The weights of one form are those of another set of names: the setting that decides it is what is
    wrong, so the error names config.json's key and the value the weights were saved with."""
    model = tiny(join=saved if option == "join" else "layer", shared=saved if option == "shared_embedding" else False)
    save_model(tmp_path / "m", model, CharTokenizer.fit(["abcdefgh"]), {})
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"][option] = edited
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "m")
    assert str(error.value) == (f'{tmp_path / "m" / "config.json"}: "{option}": {json.dumps(edited)} does not fit '
                                f'model.safetensors, which holds the weights of "{option}": {json.dumps(saved)} '
                                "(was config.json edited, or the weights file replaced?)")


def edited_copy(tmp_path, model, change) -> Path:
    """A saved copy of `model` whose config.json `change(config)` edited (its "direction" as `lmkit train` writes it)."""
    save_model(tmp_path / "m", model, CharTokenizer.fit(["abcdefgh"]), {})
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["direction"] = "both"
    change(config)
    config_path.write_text(json.dumps(config))
    return tmp_path / "m"


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["model"].pop("join"), 'no "join" (read as "sum") does not fit '
                                       'model.safetensors, which holds the weights of "join": "layer"'),
    (lambda c: c["model"].update(join="sum", shared_embedding=True), '"join": "sum", "shared_embedding": true do not '
                                                                     'fit model.safetensors, which holds the weights of '
                                                                     '"join": "layer", "shared_embedding": false'),
    (lambda c: c.update(model=None), '"model" holds no settings, and the defaults do not fit model.safetensors'),
    (lambda c: c.update(kind="bigru"), '"kind": "bigru" and "model": {"kind": "bilstm"} differ'),
    (lambda c: (c.update(kind="bigru"), c["model"].update(kind="bigru")),
     '"kind": "bigru" does not fit model.safetensors, which holds the weights of "kind": "bilstm"'),
    (lambda c: c.update(kind="lstm"), '"kind": "lstm" does not fit "direction": "both", which only a bidirectional '
                                      'model (birnn, bigru, bilstm) has'),
    (lambda c: c.pop("kind"), 'it does not say which model it holds (no "kind")'),
    (lambda c: c.update(kind="xyz"), "unknown model kind 'xyz'"),
], ids=["join deleted", "two keys", "model null", "kind", "both kinds", "a one-way kind", "no kind", "unknown kind"])
def test_an_edited_config_is_named_by_the_key_that_was_edited(tmp_path, edit, words):
    """What the user changed is what the error names: not the weights file, and not a key left as it was."""
    with pytest.raises(CheckpointError) as error:
        load_model(edited_copy(tmp_path, tiny(), edit))
    assert str(error.value).startswith(f"{tmp_path / 'm' / 'config.json'}: {words}"), str(error.value)


def test_an_edited_softmax_is_named_by_its_key(tmp_path):
    """The softmax decides which weights there are, as the join does (a vocabulary of 1,100 lets both forms be)."""
    tokenizer = CharTokenizer.fit(["".join(chr(0x4E00 + i) for i in range(1100))])
    model = ClozeRNN(tokenizer.vocab, ClozeConfig(emb_size=8, hidden_size=12, layers=1, softmax="adaptive"))
    save_model(tmp_path / "m", model, tokenizer, {})
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["softmax"] = "full"
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match='"softmax": "full" does not fit model.safetensors, which holds the '
                                              'weights of "softmax": "adaptive"'):
        load_model(tmp_path / "m")


def test_a_config_edited_to_another_size_names_the_key(tmp_path):
    save_model(tmp_path / "m", tiny(), CharTokenizer.fit(["abcdefgh"]), {})
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["emb_size"] = 9
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match='config.json: "emb_size": 9 does not fit model.safetensors, which holds '
                                              'the weights of "emb_size": 8'):
        load_model(tmp_path / "m")


def test_a_line_scores_the_same_alone_and_padded_beside_a_longer_one():
    model = tiny()
    short, long = np.asarray([4, 5, 6, EOS_ID]), np.asarray([7, 8, 9, 10, 11, 4, 5, EOS_ID])
    alone = model.cloze_logprobs(*frame_lines([short]))[0]
    ids, lengths = frame_lines([long, short])
    padded = model.cloze_logprobs(ids, lengths)[1]
    torch.testing.assert_close(padded[: len(short) + 1], alone, rtol=0, atol=1e-6)
    assert padded[len(short) + 1 :].abs().sum() == 0  # padding holds no prediction


def test_each_prediction_is_a_distribution():
    probs = predictions(tiny(), [4, 5, 6]).exp()
    torch.testing.assert_close(probs[1:].sum(dim=1), torch.ones(4), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(CLOZE_CELLS))
@pytest.mark.parametrize("one_table", [False, True])
def test_save_and_load_give_identical_predictions(tmp_path, kind, one_table):
    tokenizer = CharTokenizer.fit(["abcdefgh"])
    torch.manual_seed(3)
    config = ClozeConfig(kind=kind, emb_size=8, hidden_size=12, layers=2, shared_embedding=one_table)
    model = ClozeRNN(tokenizer.vocab, config).eval()
    save_model(tmp_path / "m", model, tokenizer, {})
    loaded, _, config = load_model(tmp_path / "m")
    assert config["kind"] == kind and isinstance(loaded, ClozeRNN) and loaded.cfg.shared_embedding is one_table
    line = [4, 5, 6, 7]
    torch.testing.assert_close(predictions(loaded.eval(), line), predictions(model, line), rtol=0, atol=0)


def test_line_batches_hold_every_line_once_within_the_token_budget():
    rng = np.random.default_rng(0)
    lines = [np.full(int(n), i) for i, n in enumerate(rng.integers(1, 120, size=300))]
    batches = line_batches(lines, tokens=512)
    assert sorted(i for batch in batches for i in batch) == list(range(300))
    for batch in batches:
        lengths = [len(lines[i]) for i in batch]
        assert lengths == sorted(lengths, reverse=True)
        assert len(batch) * (lengths[0] + 1) <= 512 * 32 / 29  # framed (N, L): N x L ids, N rounded to 8s
    framed = sum(len(batch) * (len(lines[batch[0]]) + 1) for batch in batches)
    real = sum(len(line) + 1 for line in lines)
    assert framed < 1.1 * real  # neighbours in length share a batch: little padding
    assert len(batches) < 0.6 * len(lines)  # and batches are not single lines


@pytest.mark.parametrize("width, rows", [(64, 8), (39, 13), (22, 23), (21, 24), (20, 24), (18, 24), (17, 32),
                                         (10, 48), (101, 5)])
def test_a_batch_of_24_lines_or_more_holds_a_multiple_of_eight(width, rows):
    """512 // width lines fit (8 for width 64, 13 for 39, 23 for 22, 24 for 21, 25 for 20, 28 for 18, 30 for 17,
    51 for 10); from 24 on they are rounded to the nearest multiple of 8, halves down (the bf16 LSTM's speed)."""
    lines = [np.zeros(width - 1, dtype=np.int64)] * 200  # framed: `<s>` and the line, `width` ids
    batches = line_batches(lines, tokens=512)
    assert {len(batch) for batch in batches[:-1]} == {rows} and 0 < len(batches[-1]) <= rows
    assert batch_rows(width, 512) == rows


def test_a_line_longer_than_a_step_gets_a_batch_of_its_own():
    assert line_batches([np.arange(10), np.arange(3), np.arange(2)], tokens=8) == [[0], [1, 2]]


def test_long_lines_are_cut_into_pieces_that_keep_every_token():
    line = np.arange(10)
    pieces = cut_long_lines([line, np.arange(3)], longest=4)
    assert [p.tolist() for p in pieces] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2]]


def stream_of(lines: list[list[int]]) -> np.ndarray:
    return np.asarray([t for line in lines for t in (*line, EOS_ID)])


def test_an_epoch_of_line_batches_trains_every_line_whole_once():
    lines = [[4 + i % 7] * (1 + (i * 37) % 50) for i in range(120)]
    batches = LineBatches(stream_of(lines), tokens=256, seed=1)
    seen = []
    for index in range(len(batches)):
        ids, lengths, tokens = batches.take(0, index)
        assert ids.shape[0] * ids.shape[1] <= 256 * 32 / 29 and tokens == int((lengths - 1).sum())
        seen.extend(ids[r, 1 : lengths[r]].tolist() for r in range(ids.shape[0]))
    assert sorted(seen) == sorted([*line, EOS_ID] for line in lines)
    assert batches.cut == 0


def test_line_batches_are_shuffled_per_epoch_and_the_same_for_the_same_seed():
    stream = stream_of([[4] * (1 + i % 30) for i in range(200)])
    one, again, other = (LineBatches(stream, 128, seed) for seed in (1, 1, 2))
    assert one.order(0).tolist() == again.order(0).tolist()
    assert one.order(0).tolist() != one.order(1).tolist() and one.order(0).tolist() != other.order(0).tolist()
    assert sorted(one.order(3).tolist()) == list(range(len(one)))


def test_ranks_share_each_batch_without_overlap():
    stream = stream_of([[4 + i % 5] * (1 + i % 9) for i in range(100)])
    ranks = [LineBatches(stream, 64, seed=0, rank=r, ranks=2) for r in range(2)]
    whole = LineBatches(stream, 64, seed=0)
    for index in range(len(whole)):
        ids, lengths, tokens = whole.take(2, index)
        shares = [batches.take(2, index) for batches in ranks]
        assert sum(share[0].shape[0] for share in shares) == ids.shape[0]
        assert all(share[2] == tokens for share in shares)  # each rank counts the whole batch's tokens


def test_training_scores_each_line_as_it_scores_alone():
    """Lines of very different lengths, framed together for training, get the log-probs each gets framed alone."""
    model = tiny()
    lines = [[4, 5], [6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6], [7], [5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4]]
    ids, lengths = frame_lines([np.asarray([*line, EOS_ID]) for line in lines])
    with torch.no_grad():
        logp, state = model(ids, lengths, ())
        alone = [float(predictions(model, line)[range(1, len(line) + 2), [*line, EOS_ID]].sum()) for line in lines]
    assert logp.shape == (sum(len(line) + 1 for line in lines),) and state == ()
    assert float(logp.sum()) == pytest.approx(sum(alone), abs=1e-4)


def test_an_empty_share_of_a_batch_gives_a_zero_loss_with_gradients():
    model = tiny()
    ids, lengths = frame_lines([])
    logp, _ = model(ids, lengths, ())
    (-logp.mean()).backward()
    assert float(logp.detach().sum()) == 0.0 and all(p.grad is not None for p in model.parameters())


def test_pseudo_nll_matches_the_cloze_predictions_line_by_line():
    model = tiny()
    stream = np.asarray([4, 5, EOS_ID, 6, 7, 8, 9, EOS_ID, 10, EOS_ID])
    logp = cloze_token_logprobs(model, stream, batch_lines=2)
    expected = []
    for line in stream_lines(stream):
        framed = predictions(model, line[:-1].tolist())
        expected += [float(framed[t + 1, tok]) for t, tok in enumerate(line)]
    np.testing.assert_allclose(logp, expected, atol=1e-5)
    assert pseudo_nll(model, stream).tokens == len(stream)


STEPS = 150


def memorise(lines: list[str], seed: int = 0, mask_rate: float = 0.0) -> tuple[ClozeRNN, CharTokenizer]:
    """A small character BiLSTM (eval mode) that has learnt `lines` by heart, and its tokenizer."""
    tokenizer = CharTokenizer.fit(lines)
    torch.manual_seed(seed)
    model = ClozeRNN(tokenizer.vocab, ClozeConfig(kind="bilstm", emb_size=16, hidden_size=32, layers=1,
                                                   dropout=0.0, out_dropout=0.0, mask_rate=mask_rate))
    ids, lengths = frame_lines(stream_lines(encode_lines(tokenizer, lines)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)  # settles instead of circling the minimum
    for _ in range(STEPS):
        logp, _ = model(ids, lengths, ())
        optimizer.zero_grad()
        (-logp.mean()).backward()
        optimizer.step()
        schedule.step()
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def memorised():
    """A BiLSTM that has learnt ONE_TOKEN by heart: only 买 fits both 我打算_ and _一部新手机. It trains with
    --mask-rate, as a model meant to fill blanks of several tokens should: they are filled from <unk> placeholders
    (without, the default shared embedding read 我打算<unk><unk>部新手机 as 算.. for one seed in eight)."""
    return memorise(ONE_TOKEN, mask_rate=0.15)


def test_fill_with_one_model_ranks_the_token_that_fits_both_sides_first(memorised):
    model, tokenizer = memorised
    fillers = cloze_fill(model, tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机"))
    assert tokenizer.decode(fillers[0].ids) == "买"
    left_only = cloze_fill(model, tokenizer.encode_line("我打算"), tokenizer.encode_line("北京"))
    assert tokenizer.decode(left_only[0].ids) == "去"  # the right side decides


def test_fill_with_one_model_grows_longer_fillers_and_ranks_candidates(memorised):
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("部新手机")
    fillers = cloze_fill(model, left, right, max_len=2, beam=4)
    assert "买一" in [tokenizer.decode(f.ids) for f in fillers[:3]]
    ranked = cloze_fill(model, left, right, candidates=[tokenizer.encode_line(w) for w in ("去北", "买一", "有一")])
    assert tokenizer.decode(ranked[0].ids) == "买一"


def test_fill_with_one_model_begins_every_filler_with_a_token_it_may_begin_with(memorised):
    """A tokenizer may allow only some first tokens (sentencepiece after a space: pieces that begin a word); the
    vocabulary's fillers, one token or grown left to right, all begin with one of them."""
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("部新手机")
    starts = {tokenizer.vocab.stoi[c] for c in "去有"}
    from lmkit.generate.cloze_fill import cloze_candidates

    fillers = cloze_candidates(model, left, right, max_len=2, beam=4, starts=starts)
    assert fillers and all(f[0] in starts for f in fillers)
    assert {len(f) for f in fillers} == {1, 2} and "买一" not in [tokenizer.decode(f) for f in fillers]


def test_single_token_fillers_score_as_whole_filled_sentences_would(memorised):
    """The vocabulary's one-token fillers are read off one cloze row; each equals its own sentence's score."""
    from lmkit.generate.cloze_fill import pseudo_loglik

    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    fillers = cloze_fill(model, left, right)
    assert len(fillers) == len(tokenizer.vocab) - 4
    one_by_one = pseudo_loglik(model, left, right, [tuple(f.ids) for f in fillers])
    np.testing.assert_allclose([f.own for f in fillers], one_by_one, atol=1e-5)


def test_the_likeliest_fillers_are_ranked_again_by_their_whole_filled_sentence(memorised):
    """--rerank K: the K best by their own score come first, ranked by own + weight x the pseudo-log-likelihood of
    the line's other tokens; at weight 1 that is the filled sentence's whole pseudo-log-likelihood."""
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    plain = cloze_fill(model, left, right, rerank=0)
    assert all(f.context is None and f.total == f.own for f in plain)
    whole = cloze_fill(model, left, right, rerank=5, context_weight=1.0)
    reranked, rest = whole[:5], whole[5:]
    assert {tuple(f.ids) for f in reranked} == {tuple(f.ids) for f in plain[:5]}
    assert [f.ids for f in rest] == [f.ids for f in plain[5:]] and all(f.context is None for f in rest)
    assert [f.total for f in reranked] == sorted((f.total for f in reranked), reverse=True)
    for filler in reranked:
        ids, lengths = framed(model, [[*left, *filler.ids, *right]])
        with torch.no_grad():
            sentence = float(model.eval().cloze_targets(ids, lengths).double().sum())
        assert filler.total == pytest.approx(sentence, abs=1e-5)
    half = cloze_fill(model, left, right, rerank=5, context_weight=0.5)[0]
    assert half.total == pytest.approx(half.own + 0.5 * half.context)


@pytest.mark.parametrize("options", [{"rerank": -1}, {"context_weight": -0.5}, {"context_weight": float("nan")},
                                     {"context_weight": float("inf")}])
def test_cloze_fill_refuses_a_bad_rerank_setting(memorised, options):
    model, tokenizer = memorised
    with pytest.raises(ConfigError, match="--rerank at least 0 and --context-weight a finite number"):
        cloze_fill(model, tokenizer.encode_line("我"), tokenizer.encode_line("北京"), **options)


# --- through the CLI ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def bimodel(tmp_path_factory):
    from conftest import train_zh

    folder = tmp_path_factory.mktemp("bi")
    result = train_zh(folder / "bi", "--model", "bigru", "--hidden-size", "16", "--emb-size", "8", "--layers", "2",
                      "--batch-size", "4", "--bptt", "64", "--max-steps", "4", "--eval-every", "2", "--sample-tokens", "0")
    assert "valid pseudo-ppl" in result.output and "valid ppl" not in result.output
    return folder / "bi"


def test_a_new_bidirectional_model_shares_its_embedding_and_a_resume_may_not_split_it(cli, bimodel):
    config = json.loads((bimodel / "config.json").read_text())
    assert config["model"]["shared_embedding"] is True
    result = cli("train", "--resume", bimodel, "--no-shared-embedding", "--max-steps", "6")
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert (f"--resume {bimodel}: the saved model has --shared-embedding, not --no-shared-embedding; leave "
            "--no-shared-embedding out") in result.output


def test_training_records_pseudo_measures_under_their_own_names(bimodel):
    records = [json.loads(line) for line in (bimodel / "metrics.jsonl").read_text().splitlines()]
    assert records and all("valid_pseudo_ppl" in r and "valid_ppl" not in r for r in records)
    assert json.loads((bimodel / "config.json").read_text())["kind"] == "bigru"


def saved_before_both(directory) -> None:
    """`directory` as lmkit saved a bidirectional model before its config.json said "both": "direction": "forward"
    in both config.json files (the best model's and last/'s), and weights files that record no direction (the
    record came later)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for folder in (directory, directory / "last"):
        path = folder / "model.safetensors"
        with safe_open(path, "pt") as weights:
            metadata = {key: value for key, value in (weights.metadata() or {}).items() if key != "direction"}
            tensors = {name: weights.get_tensor(name) for name in weights.keys()}
        save_file(tensors, path, metadata=metadata)
        saved = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**saved, "direction": "forward"}))


def test_the_config_says_both_directions_and_an_older_forward_one_still_resumes(cli, bimodel, tmp_path, monkeypatch):
    import shutil
    from conftest import TINY, assert_one_line_error

    monkeypatch.setenv("LMKIT_CORPORA", str(bimodel.parent / "corpora"))  # where the fixture's text was cached
    assert json.loads((bimodel / "config.json").read_text())["direction"] == "both"
    older = tmp_path / "older"
    shutil.copytree(bimodel, older)
    config = json.loads((older / "config.json").read_text())
    saved_before_both(older)
    refused = cli("train", "--resume", older, "--max-steps", "5", "--direction", "backward")
    assert_one_line_error(refused, f"--resume {older}: --direction backward does not apply to the saved bigru model")
    refused = cli("train", "--resume", older, "--max-steps", "5", "--direction", "forward")
    assert_one_line_error(refused, f"--resume {older}: --direction forward does not apply to the saved bigru model")
    fresh = cli("train", "--model", "bigru", "--train", TINY["zh"]["train"], "--direction", "forward", "--out", tmp_path / "new")
    assert_one_line_error(fresh, "--direction forward does not apply to --model bigru: a bidirectional model reads")
    resumed = cli("train", "--resume", older, "--max-steps", "5", "--sample-tokens", "0")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((older / "config.json").read_text())["direction"] == "both"
    (older / "config.json").write_text(json.dumps({**config, "direction": "backward"}))
    assert_one_line_error(cli("eval", older), '"direction" must be one of both, forward for a bigru model, got \'backward\'')


def test_eval_reports_pseudo_perplexity_and_no_perplexity(cli, bimodel):
    from conftest import TINY

    result = cli("eval", bimodel, "--file", TINY["zh"]["test"], "--json")
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.output)["models"][0]["evaluation"]
    assert evaluation["pseudo_perplexity"] > 1 and "perplexity" not in evaluation
    text = cli("eval", bimodel, "--file", TINY["zh"]["test"]).output
    assert "pseudo-perplexity" in text and "\n  perplexity" not in text


def test_eval_refuses_the_adaptive_regimes_for_a_bidirectional_model(cli, bimodel):
    from conftest import TINY, assert_one_line_error

    for option, words in ((["--dynamic"], "--dynamic needs a left-to-right model"), (["--cache", "5"], "--cache needs")):
        assert_one_line_error(cli("eval", bimodel, "--file", TINY["zh"]["test"], *option), words,
                              "this model's kind is bigru")
    assert_one_line_error(cli("eval", bimodel, "--file", TINY["zh"]["test"], "--rows", "4", "--reset-per-line"),
                          "is a bidirectional model (bigru), which reads every line whole: --reset-per-line --rows "
                          "would be ignored; drop them")


def test_rescore_refuses_a_bidirectional_model_alone_or_in_a_mix(cli, bimodel, tmp_path):
    from conftest import assert_one_line_error

    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("u1\t我的\t-1.0\nu1\t我们\t-1.5\n", encoding="utf-8")
    for args in ([bimodel, nbest], ["--mix", f"{bimodel},{bimodel}", nbest]):
        assert_one_line_error(cli("rescore", *args), f"{bimodel} is a bidirectional cloze model (bigru); it cannot rescore")


def test_generate_refuses_a_bidirectional_model(cli, bimodel):
    from conftest import assert_one_line_error

    result = cli("generate", bimodel, "--max-tokens", "3")
    assert_one_line_error(result, "is a bidirectional cloze model (bigru); it cannot generate left to right")


def test_fill_takes_one_bidirectional_model(cli, bimodel):
    result = cli("fill", bimodel, "我_", "--top", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2] and rows[0]["score"] >= rows[1]["score"]
    assert all(r["score"] == pytest.approx(r["pseudo_loglik"] + 0.25 * r["context_loglik"], abs=1e-5) for r in rows)
    plain = [json.loads(line) for line in cli("fill", bimodel, "我_", "--top", "3", "--json", "--rerank", "0").output.splitlines()]
    assert all(r["context_loglik"] is None and r["score"] is None for r in plain)
    assert [r["pseudo_loglik"] for r in plain] == sorted((r["pseudo_loglik"] for r in plain), reverse=True)
    table = cli("fill", bimodel, "我_", "--top", "2", "--rerank", "1")
    assert table.exit_code == 0 and table.output.splitlines()[0].split() == ["rank", "score", "own", "context", "filler", "sentence"]
    second = table.output.splitlines()[2].split()
    assert second[1] == "-" and second[3] == "-" and float(second[2]) < 0  # rank 2 was not re-ranked: no score
    tail = [json.loads(line) for line in cli("fill", bimodel, "我_", "--top", "3", "--json", "--rerank", "1").output.splitlines()]
    assert tail[0]["score"] is not None and [r["score"] for r in tail[1:]] == [None, None]
    assert tail[1]["pseudo_loglik"] >= tail[2]["pseudo_loglik"]


def test_rerank_options_are_refused_with_two_models(cli, bimodel, tmp_path):
    result = cli("fill", bimodel, bimodel, "我_", "--rerank", "5")
    assert result.exit_code != 0
    assert "two models score every filler by its whole sentence already: --rerank would be ignored" in result.output


def test_training_warns_when_lines_are_longer_than_a_step(cli, tmp_path):
    from conftest import ENGLISH

    args = ["train", "--model", "birnn", "--train", ENGLISH, "--hidden-size", "8", "--emb-size", "4", "--layers", "1",
            "--batch-size", "1", "--max-steps", "1", "--sample-tokens", "0", "--quiet"]
    short = cli(*args, "--bptt", "16", "--out", tmp_path / "short")
    assert short.exit_code == 0, short.output
    assert ("lines of the training text are longer than 15 tokens, the most a step of --batch-size 1 x --bptt 16 "
            "holds, and trained in pieces of that length") in short.stderr
    long = cli(*args, "--bptt", "4096", "--out", tmp_path / "long")
    assert long.exit_code == 0 and "trained in pieces" not in long.stderr


def test_the_cut_lines_warning_counts_in_words_that_agree(capsys):
    from types import SimpleNamespace

    from lmkit.commands.train_run import warn_cut_lines

    warn_cut_lines(1, 1, SimpleNamespace(batch_size=1, bptt=2))
    warn_cut_lines(3, 1_023, SimpleNamespace(batch_size=32, bptt=32))
    first, second = capsys.readouterr().err.splitlines()
    assert first.startswith("warning: 1 line of the training text is longer than 1 token, the most")
    assert second.startswith("warning: 3 lines of the training text are longer than 1,023 tokens, the most")


def test_mask_rate_reads_tokens_as_unk_in_training_only_and_still_targets_them():
    torch.manual_seed(0)
    vocab = tiny().vocab
    model = ClozeRNN(vocab, ClozeConfig(emb_size=8, hidden_size=12, layers=1, mask_rate=0.5)).train()
    ids, lengths = frame_lines([np.asarray([4, 5, 6, 7, 8, 9, 10, 11] * 4 + [EOS_ID]), np.asarray([4, 5, EOS_ID])])
    masked = model.masked(ids, lengths)
    changed = masked != ids
    assert (masked[changed] == vocab.unk_id).all() and 0.3 < changed[0].float().mean() < 0.7
    assert not changed[:, 0].any() and masked[0, 33] == EOS_ID and (masked[1, 3:] == ids[1, 3:]).all()  # <s>, </s>, pad
    torch.manual_seed(1)
    expected_inputs = model.masked(ids, lengths)
    torch.manual_seed(1)
    logp, _ = model(ids, lengths)  # the same draw: read masked, scored against the true tokens
    predicted = torch.arange(1, ids.shape[1])[None, :] < lengths[:, None]
    feats = model.features(expected_inputs, lengths)[predicted]
    torch.testing.assert_close(logp, model.head.target_logprobs(feats[None], ids[:, 1:][predicted][None])[0])
    assert torch.equal(model.eval().masked(ids, lengths), ids)


def test_weight_drop_and_word_dropout_draw_in_training_only_and_never_leak_the_token():
    eval_model = tiny(layers=2)
    config = ClozeConfig(emb_size=8, hidden_size=12, layers=2, dropout=0.0, out_dropout=0.0, weight_drop=0.5,
                         word_dropout=0.3, shared_embedding=False)
    model = ClozeRNN(eval_model.vocab, config)
    model.load_state_dict(eval_model.state_dict())
    line = [4, 5, 6, 7, 8, 9, 10]
    torch.testing.assert_close(predictions(model.eval(), line), predictions(eval_model, line), rtol=0, atol=0)

    def drawn(ids: list[int], seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return predictions(model.train(), ids)

    assert (drawn(line, 0) - drawn(line, 1)).abs().max() > 1e-3      # the masks do something, per draw
    before = drawn(line, 0)
    for t in range(len(line)):
        changed = line.copy()
        changed[t] = 11
        torch.testing.assert_close(drawn(changed, 0)[t + 1], before[t + 1], rtol=0, atol=1e-6)
    ids, lengths = frame_lines([np.asarray([*line, EOS_ID])])
    logp, _ = model.train()(ids, lengths)
    logp.sum().backward()
    recurrent = [w.grad for name, w in model.named_parameters() if "weight_hh" in name]
    assert len(recurrent) == 4 and all(g is not None and g.abs().sum() > 0 for g in recurrent)  # 2 directions x 2 layers


def test_a_shared_embedding_is_one_table_that_both_directions_read_and_train():
    """--shared-embedding: one word vector x_t for both readers, so a change to it reaches both sides' states;
    the readers' own weights stay apart (U, W and U', W')."""
    model = tiny("bilstm", shared=True).train()
    separate = tiny("bilstm", shared=False)
    table = model.embedding.weight
    assert [n for n, _ in model.named_parameters() if "embedding" in n] == ["embedding.weight"]
    assert separate.num_parameters() - model.num_parameters() == table.numel()
    assert model.forward_reader["rnn"].weight_ih_l0 is not model.backward_reader["rnn"].weight_ih_l0
    framed, lengths = frame_lines([np.asarray([4, 5, 6, 7, EOS_ID])])
    model.features(framed, lengths)[:, 0].sum().backward()  # predicting t = 1: A_0 reads <s>, A'_2 reads x_2 ..
    assert table.grad[framed[0, 0]].abs().sum() > 0        # through the forward reader
    assert table.grad[framed[0, 3]].abs().sum() > 0        # through the backward reader
    assert table.grad[framed[0, 1]].abs().sum() == 0       # never the predicted token itself


def test_the_prediction_at_one_place_is_that_place_of_every_prediction():
    model = tiny()
    ids, lengths = frame_lines([np.asarray([7, 8, 9, 10, 11, 4, 5, EOS_ID]), np.asarray([4, 5, 6, EOS_ID])])
    with torch.no_grad():
        every = model.cloze_logprobs(ids, lengths)                                   # (2, L, V)
        for at in range(1, ids.shape[1]):
            torch.testing.assert_close(model.cloze_logprobs(ids, lengths, at=at), every[:, at], rtol=0, atol=1e-6)
        for outside in (0, ids.shape[1], True, 1.5):
            with pytest.raises(ValueError, match=f"at must be a predicted position, 1 .. {ids.shape[1] - 1}, got {outside}"):
                model.cloze_logprobs(ids, lengths, at=outside)


@pytest.mark.parametrize("max_len, beam", [(1, 8), (3, 4), (4, 3)])
def test_the_search_size_known_before_the_search_bounds_what_it_reads(memorised, monkeypatch, max_len, beam):
    from lmkit.generate.cloze_fill import cloze_search_size

    model, tokenizer = memorised
    read = []
    for method in ("cloze_logprobs", "cloze_targets"):  # the two ways the fill reads framed sentences
        reads = getattr(model, method)
        monkeypatch.setattr(model, method, lambda ids, lengths, *a, _reads=reads, **k:
                            read.append(int(lengths.sum())) or _reads(ids, lengths, *a, **k))
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("部新手机")
    fillers = cloze_fill(model, left, right, max_len=max_len, beam=beam, rerank=0)
    size = cloze_search_size(len(tokenizer.vocab), len(left) + len(right), max_len, beam)
    assert len(fillers) <= size.fillers
    assert sum(read) <= size.tokens < 1.5 * sum(read)
