"""Issue 17's first hour of a new user, through the CLI: where files go, where a resumed run starts,
and a run that survives its stdout reader going away."""
import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, assert_one_line_error
from faults.fault_helpers import interruptible
from lmkit.train.config import TrainConfig
from lmkit.train.resume_state import load_resume

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16"]


def tiny_files(lang="en"):
    return ["--train", TINY[lang]["train"], "--valid", TINY[lang]["valid"], "--test", TINY[lang]["test"]]


def lmkit_env(tmp_path, **extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LMKIT_CORPORA": str(tmp_path / "corpora"), **extra}


def lmkit_process(args, tmp_path, env=None, **popen):
    return subprocess.Popen([sys.executable, "-m", "lmkit", *map(str, args)], cwd=tmp_path,
                            env=env or lmkit_env(tmp_path), **popen)


def evaluations(directory: Path) -> int:
    metrics = directory / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.exists() else 0


def test_ctrl_c_after_the_stdout_reader_has_gone_still_saves_the_checkpoint(tmp_path):
    """`lmkit train ... | tee log` and Ctrl-C: tee dies first; lmkit must still save and say so."""
    out = tmp_path / "m"
    args = ["train", *tiny_files(), *TINY_MODEL, "--eval-every", "1", "--max-time", "300", "--out", out]
    process = lmkit_process(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible())
    process.stdout.readline()  # the header: training has begun
    process.stdout.close()     # the reader goes away, as tee does on Ctrl-C
    seen = evaluations(out)
    while process.poll() is None and evaluations(out) < seen + 3:  # lines printed into the broken pipe
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()  # before the fix: gone on EPIPE, nothing saved
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1].decode()
    assert "SIGINT: saved a resumable checkpoint" in stderr, stderr
    assert (out / "last" / "trainer_state.pt").exists()
    assert process.returncode == 130  # stopped, not finished: `lmkit train ... && lmkit eval ...` stops too


def test_a_closed_terminal_stops_training_as_sigterm_does_and_the_step_is_saved(tmp_path):
    """The terminal (or the ssh connection) closes: SIGHUP arrives and every later write to it fails. Training
    saves a resumable checkpoint at the next safe point and exits 129, as `--nproc` runs always did."""
    out = tmp_path / "m"
    args = ["train", *tiny_files(), *TINY_MODEL, "--eval-every", "1", "--max-time", "300", "--out", out]
    process = lmkit_process(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible())
    process.stdout.readline()  # the header: training has begun
    process.stdout.close()
    process.stderr.close()     # nobody reads either stream any more: the progress bars' writes fail too
    seen = evaluations(out)
    while process.poll() is None and evaluations(out) < seen + 2:
        time.sleep(0.2)
    assert process.poll() is None  # the broken writes did not end it
    process.send_signal(signal.SIGHUP)
    assert process.wait(timeout=120) == 129
    state = load_resume(out)[3]
    assert state["step"] >= evaluations(out)  # saved at the step it stopped on, after the last evaluation


def test_a_write_to_a_hung_up_terminal_stops_the_stream_not_the_run():
    from lmkit.commands.output_guard import SurvivingStream

    class HungUp(io.StringIO):
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    stream = SurvivingStream(HungUp())
    assert stream.write("epoch 1") == 7 and stream.broken
    with pytest.raises(OSError, match="No space"):  # a disk error is not a reader gone: it is said
        SurvivingStream(Full()).write("epoch 1")


def test_resume_says_where_it_picks_up(cli, tmp_path):
    args = [*tiny_files(), *TINY_MODEL, "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m"]
    assert cli("train", *args, "--max-steps", "6").exit_code == 0
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", "8", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    tokens = 6 * 4 * 16
    assert f"resuming {tmp_path / 'm'} at step 6: epoch 1, window 6 of " in result.output
    assert f"{tokens:,} tokens" in result.output


def test_resume_names_a_bidirectional_models_line_batches_and_a_finished_run(cli, tmp_path):
    """Pass 53: a bidirectional model's epoch counts line batches, not windows, and a run resumed after its last
    epoch was said to be in the epoch after it."""
    args = [*tiny_files(), *TINY_MODEL, "--model", "bilstm", "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m"]
    assert cli("train", *args, "--max-steps", "2").exit_code == 0
    resume = ["train", "--resume", tmp_path / "m", "--quiet", "--sample-tokens", "0"]
    result = cli(*resume, "--epochs", "1", "--max-steps", "1000")
    assert result.exit_code == 0, result.output
    assert f"resuming {tmp_path / 'm'} at step 2: epoch 1, line batch 2 of " in result.output
    again = cli(*resume)  # nothing left: said, and the model evaluated
    assert again.exit_code == 0 and ": epoch 1 of 1 done, " in again.output and "epoch 2" not in again.output


@pytest.mark.parametrize("corpora_variable", [False, True])
def test_lmkit_home_holds_corpora_and_checkpoints_and_every_header_names_them(cli, tmp_path, monkeypatch,
                                                                              corpora_variable):
    """Started from another folder, lmkit uses $LMKIT_HOME, not a new ./corpora and ./checkpoints there;
    $LMKIT_CORPORA still wins for corpora."""
    home, elsewhere, corpora = tmp_path / "home", tmp_path / "elsewhere", tmp_path / "own-corpora"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("LMKIT_HOME", str(home))
    if corpora_variable:
        monkeypatch.setenv("LMKIT_CORPORA", str(corpora))
    else:
        monkeypatch.delenv("LMKIT_CORPORA")
    expected_corpora = corpora if corpora_variable else home / "corpora"
    result = cli("ngram", *tiny_files(), "--order", "2")
    assert result.exit_code == 0, result.output
    assert f"folders: corpora {expected_corpora}  checkpoints {home / 'checkpoints'}" in result.output
    assert [p.name for p in (home / "checkpoints").iterdir()] and any(expected_corpora.iterdir())
    assert list(elsewhere.iterdir()) == []
    listing = cli("corpus", "list")
    assert f"folders: corpora {expected_corpora}  checkpoints {home / 'checkpoints'}" in listing.output


def test_the_train_header_names_the_folders(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LMKIT_HOME", str(tmp_path / "home"))
    result = cli("train", *tiny_files(), *TINY_MODEL, "--quiet", "--sample-tokens", "0", "--max-steps", "1",
                 "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "folders: corpora " in result.output and "checkpoints " in result.output
    # and where it looked for the 5-gram it would compare with: beside the model, and in the checkpoints folder
    assert (f"(no character 5-gram baseline with this vocabulary in {tmp_path} or {tmp_path / 'home' / 'checkpoints'} "
            "yet: `lmkit ngram") in result.output


def test_the_baseline_built_beside_the_model_is_found(cli, tmp_path, monkeypatch):
    """First-hour pass, session 51: the README's own pair (ngram --out checkpoints/english-char-kn, then train --out
    checkpoints/english-char-lstm) run from a folder other than $LMKIT_HOME said no baseline had been built."""
    monkeypatch.setenv("LMKIT_HOME", str(tmp_path / "home"))
    assert cli("ngram", *tiny_files(), "--tokenizer", "char", "--order", "5", "--out", tmp_path / "runs" / "kn").exit_code == 0
    result = cli("train", *tiny_files(), *TINY_MODEL, "--quiet", "--sample-tokens", "0", "--max-steps", "1",
                 "--out", tmp_path / "runs" / "lstm")
    assert result.exit_code == 0, result.output
    assert f"  baseline {tmp_path / 'runs' / 'kn'}: valid bits/char " in result.output


def test_the_baseline_is_the_first_5_gram_with_this_vocabulary_and_a_broken_one_is_passed_over(cli, tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setenv("LMKIT_HOME", str(tmp_path / "home"))
    checkpoints = tmp_path / "home" / "checkpoints"
    other = cli("ngram", *tiny_files(), "--tokenizer", "char", "--order", "5", "--smoothing", "add-k", "--max-size", "10")
    assert other.exit_code == 0, other.output  # sorts before the kn model; another vocabulary
    broken = shutil.copytree(next(checkpoints.iterdir()), checkpoints / "a-broken-5gram")
    (broken / "model.ngram.npz").unlink()
    assert cli("ngram", *tiny_files(), "--tokenizer", "char", "--order", "5").exit_code == 0
    result = cli("train", *tiny_files(), *TINY_MODEL, "--quiet", "--sample-tokens", "0", "--max-steps", "1",
                 "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    kn = next(p for p in checkpoints.iterdir() if p.name.endswith("-char-5gram-kn"))
    assert f"  baseline {kn}: valid bits/char " in result.output


def run_with_terminal_stderr(args, tmp_path, **env) -> tuple[int, str, str]:
    """Run lmkit with stderr on a pseudo-terminal (as a person watching sees it): (code, stdout, terminal text)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a new pty is 0 columns wide
    process = lmkit_process(args, tmp_path, lmkit_env(tmp_path, **env), stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    stdout = process.stdout.read().decode()
    return process.wait(timeout=300), stdout, seen.decode(errors="replace")


@pytest.fixture
def ngram_model(tmp_path):
    out = tmp_path / "kn"
    done = subprocess.run([sys.executable, "-m", "lmkit", "ngram", *map(str, tiny_files()), "--order", "3",
                           "--out", str(out)], cwd=tmp_path, capture_output=True, text=True, env=lmkit_env(tmp_path))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("mix", [False, True])
def test_eval_shows_a_bar_on_a_terminal_and_none_with_quiet(tmp_path, ngram_model, mix):
    model = ["--mix", f"{ngram_model},{ngram_model}", "--weights", "0.5,0.5"] if mix else [ngram_model]
    args = ["eval", *model, "--file", TINY["en"]["test"]]
    code, stdout, terminal = run_with_terminal_stderr(args, tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0 and "perplexity" in stdout, terminal
    assert "scoring:" in terminal and "tok" in terminal
    code, stdout, terminal = run_with_terminal_stderr([*args, "--quiet"], tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0 and "scoring" not in terminal


@pytest.mark.parametrize("form", ["pair", "bidirectional"])
def test_fill_shows_its_search_and_scoring_on_a_terminal_and_nothing_with_quiet(tmp_path, ngram_model, form):
    if form == "pair":
        models = [ngram_model, ngram_model]
    else:
        done = subprocess.run([sys.executable, "-m", "lmkit", "train", *tiny_files(), *TINY_MODEL, "--model", "bilstm",
                               "--tokenizer", "word", "--max-steps", "2", "--quiet", "--sample-tokens", "0",
                               "--out", str(tmp_path / "bi")], cwd=tmp_path, capture_output=True, text=True,
                              env=lmkit_env(tmp_path))
        assert done.returncode == 0, done.stderr
        models = [tmp_path / "bi"]
    args = ["fill", *models, "the _ of", "--max-len", "3", "--beam", "4", "--top", "3"]
    code, shown, terminal = run_with_terminal_stderr(args, tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0, terminal
    assert "proposing fillers" in terminal and "step" in terminal and "scoring fillers" in terminal, terminal
    assert ("re-ranking" in terminal) == (form == "bidirectional"), terminal
    code, _, terminal = run_with_terminal_stderr(args[:args.index("--max-len")], tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0 and "proposing" not in terminal and " 0filler" not in terminal, terminal
    code, quiet, terminal = run_with_terminal_stderr([*args, "--quiet"], tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0 and "fillers" not in terminal, terminal
    assert quiet == shown and quiet.count("\n") == 4  # the header and three fillers, the bars on stderr alone


def test_fill_reports_its_search_steps_and_scored_fillers_through_callbacks():
    from lmkit.generate.cloze_fill import cloze_candidates, cloze_fill
    from lmkit.generate.fill import fill_blank, vocabulary_fillers
    from test_cloze import tiny
    from test_fill import pair

    def passes(run) -> list[list[tuple[int, int]]]:
        heard: dict[str, list] = {}
        run(lambda name: lambda done, total: heard.setdefault(name, []).append((done, total)))
        for name, reports in heard.items():  # each from 0 up to its one total, never back
            assert reports[0][0] == 0 and reports[-1][0] == reports[-1][1] > 0, (name, reports)
            assert [d for d, _ in reports] == sorted(d for d, _ in reports) and len({t for _, t in reports}) == 1
        return heard

    tokenizer, forward, backward = pair(["abcd", "acbd", "badc"])
    left, right = tokenizer.encode_line("a"), tokenizer.encode_line("d")
    found = []
    heard = passes(lambda on: found.extend(vocabulary_fillers(forward, backward, left, right, 3, 4, progress=on("steps"))))
    heard |= passes(lambda on: fill_blank(forward, backward, left, right, found, progress=on("scored")))
    assert set(heard) == {"steps", "scored"} and heard["steps"][-1] == (6, 6)  # 3 lengths a side

    cloze, found, ranked = tiny(), [], []
    heard = passes(lambda on: found.extend(cloze_candidates(cloze, [4], [5], 4, 3, progress=on("steps"))))
    heard |= passes(lambda on: ranked.extend(cloze_fill(cloze, [4], [5], found, progress=on("scored"),
                                                        rerank_progress=on("again"))))
    singles = len([f for f in found if len(f) == 1])
    assert heard["steps"][-1] == (9, 9)  # the places of spans of 2, 3 and 4
    assert heard["scored"][-1] == (len(found) - singles,) * 2  # the single tokens come off one prediction
    reread = len([f for f in ranked[:20] if len(f.ids) == 1])  # --rerank's 20 best: a longer one's context is read
    assert heard["again"][-1] == (reread, reread) and 0 < reread < 20


def test_library_passes_report_progress_through_a_callback(tiny_en):
    """Library code prints nothing: it reports (done, total) per pass, ending at the tokens it scored."""
    from lmkit.evaluate.perplexity import token_logprobs
    from lmkit.models.ngram.model import build_ngram
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "word")
    stream = encoded_split(tiny_en, tokenizer, "test")
    model = build_ngram(encoded_split(tiny_en, tokenizer, "train"), tokenizer.vocab, 2)
    for reset in (False, True):
        heard = []
        token_logprobs(model, stream, reset_per_line=reset, rows=3, window=7, progress=lambda d, t: heard.append((d, t)))
        assert heard[0] == (0, len(stream)) and heard[-1] == (len(stream), len(stream))
        assert [d for d, _ in heard] == sorted(d for d, _ in heard) and len(heard) > 2


@pytest.mark.parametrize("budget,shown", [(["--max-time", "600", "--epochs", "1"], r"budget left (10:00|09:\d\d)"),
                                          (["--max-time", "0", "--max-steps", "7"], r"budget left 00:\d\d")])
def test_the_training_bar_runs_to_the_budget(tmp_path, budget, shown):
    """The bar's time left is the budget's (not the end of the epoch).

    A fast machine finishes the tiny run within a second, so a 600 s budget may still read 10:00."""
    args = ["train", *tiny_files(), *TINY_MODEL, "--sample-tokens", "0", *budget,
            "--out", tmp_path / "m"]
    code, _, terminal = run_with_terminal_stderr(args, tmp_path, LMKIT_PROGRESS_DELAY="0")
    assert code == 0, terminal
    assert re.search(shown, terminal), terminal


SMALL = ["--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"], "--hidden-size", "8", "--emb-size", "8",
         "--max-steps", "2", "--quiet", "--sample-tokens", "0"]


@pytest.fixture
def ten_lines(tmp_path):
    path = tmp_path / "ten.txt"
    path.write_text("".join(f"line {n} of a very short text that a new user tries first\n" for n in range(10)))
    return path


def saved_shape(directory):
    config = json.loads((directory / "config.json").read_text())["train"]["config"]
    return config["batch_size"], config["bptt"]


def test_a_short_file_gets_a_batch_and_window_that_fit_and_says_so(cli, tmp_path, ten_lines):
    result = cli("train", "--train", ten_lines, *SMALL, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "makes 1 step per epoch; using --batch-size" in result.stderr  # the default 16 x 128 on 600 characters
    batch, bptt = saved_shape(tmp_path / "m")
    assert (batch, bptt) != (TrainConfig().batch_size, TrainConfig().bptt)
    from lmkit.train.small_data import MIN_STEPS_PER_EPOCH, steps_per_epoch

    assert steps_per_epoch(len(ten_lines.read_text()), batch, bptt) >= MIN_STEPS_PER_EPOCH


def test_a_short_file_with_a_chosen_batch_gets_a_suggestion_not_a_change(cli, tmp_path, ten_lines):
    result = cli("train", "--train", ten_lines, "--batch-size", "4", *SMALL, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "warning: the training text has" in result.stderr and "try --batch-size" in result.stderr
    assert saved_shape(tmp_path / "m")[0] == 4


def test_a_short_file_keeps_the_shape_a_preset_chose_and_gets_a_suggestion(cli, tmp_path, ten_lines):
    from lmkit.train.presets import PRESETS

    result = cli("train", "--train", ten_lines, "--preset", "small-corpus", *SMALL, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "warning: the training text has" in result.stderr and "try --batch-size" in result.stderr
    chosen = PRESETS["small-corpus"]
    assert saved_shape(tmp_path / "m") == (chosen["batch_size"], chosen["bptt"])


@pytest.mark.parametrize("valid", ["same path", "same content", "other text"])
def test_valid_equal_to_train_is_warned_about(cli, tmp_path, valid):
    train = TINY["en"]["train"]
    copy = tmp_path / "copy.txt"
    copy.write_bytes(train.read_bytes())
    given = {"same path": train, "same content": copy, "other text": TINY["en"]["valid"]}[valid]
    result = cli("train", "--train", train, "--valid", given, "--test", TINY["en"]["test"], *TINY_MODEL,
                 "--max-steps", "1", "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert ("validation text is the same as the training text" in result.stderr) == (valid != "other text")


@pytest.mark.parametrize("max_size, warned", [("10", True), ("300", False)])
def test_a_vocabulary_that_leaves_most_of_the_valid_split_unknown_is_warned_about(cli, tmp_path, max_size, warned):
    """Pass 81: --max-size 10 on words trained to a valid perplexity of 6.2 over text two thirds <unk>, and only
    `lmkit eval` said so."""
    result = cli("train", "--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test",
                 TINY["en"]["test"], "--tokenizer", "word", "--max-size", max_size, *TINY_MODEL, "--max-steps", "1",
                 "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "tokens of the valid split are outside the vocabulary" in line]
    assert bool(said) == warned
    if warned:
        assert said[0].startswith("warning: ") and f"{max_size} tokens) and read as <unk>" in said[0]


@pytest.mark.parametrize("text,warned", [
    ("床前明月光，疑是地上霜。举头望明月，低头思故乡。\n", True),        # Chinese without spaces
    ("今天 天气 很 好 ， 我们 去 公园 散步 吧 。\n", False),               # segmented with spaces
    ("The quick brown fox jumps over the lazy dog.\n", False),              # English
])
def test_word_tokens_on_unsegmented_chinese_are_warned_about(cli, tmp_path, text, warned):
    path = tmp_path / "text.txt"
    path.write_text(text * 40)
    result = cli("vocab", "build", "--train", path, "--tokenizer", "word")
    assert result.exit_code == 0, result.output
    assert ("--segment jieba" in result.stderr) == warned, result.stderr
    if warned:
        with_jieba = cli("vocab", "build", "--train", path, "--tokenizer", "word", "--segment", "jieba")
        assert with_jieba.exit_code == 0 and "--segment jieba" not in with_jieba.stderr


def test_word_tokens_on_thai_are_warned_about_with_advice_that_fits_it(cli, tmp_path):
    """Pass 85: Thai, written without spaces, made every line one token (valid and test 50% <unk>) with no word,
    where the same in Chinese was warned about."""
    path = tmp_path / "thai.txt"
    path.write_text("ภาษาไทยเขียนติดกันโดยไม่มีช่องว่างระหว่างคำ\nวันนี้อากาศดีมากเราไปเดินเล่นกัน\n" * 40, encoding="utf-8")
    result = cli("vocab", "build", "--train", path, "--tokenizer", "word")
    assert result.exit_code == 0, result.output
    assert ("long runs of Thai, Lao, Khmer or Burmese text with no spaces" in result.stderr
            and "use --tokenizer char or --tokenizer spm (--segment jieba cuts only Chinese)" in result.stderr)


@pytest.mark.parametrize("args,says", [
    (["eval", "m", "--per-line"], "error: Option '--per-line' requires an argument. (see 'lmkit eval --help')"),
    (["generate", "m", "--temperature"], "error: Option '--temperature' requires an argument. (see 'lmkit generate --help')"),
    (["--nosuch"], "error: No such option '--nosuch'. (see 'lmkit --help')"),  # was click's usage block, 3 lines
    (["corpus", "fetch"], "error: Missing argument 'NAME...'. (see 'lmkit corpus fetch --help')"),
    # pass 20: in a group's command, the group was named ('lmkit vocab --help')
    (["vocab", "build", "--tokenizer"], "error: Option '--tokenizer' requires an argument. (see 'lmkit vocab build --help')"),
    (["corpus", "info", "--corpus"], "error: Option '--corpus' requires an argument. (see 'lmkit corpus info --help')"),
    # pass 74: a mistyped command got no suggestion, where a mistyped option gets click's
    (["trian"], "error: No such command 'trian'. Did you mean 'train'? (see 'lmkit --help')"),
    (["evaluate"], "error: No such command 'evaluate'. Did you mean 'eval'? (see 'lmkit --help')"),
    (["TRAIN"], "error: No such command 'TRAIN'. Did you mean 'train'? (see 'lmkit --help')"),
    (["corpus", "fetc"], "error: No such command 'fetc'. Did you mean 'fetch'? (see 'lmkit corpus --help')"),
    (["xyz"], "error: No such command 'xyz'. (see 'lmkit --help')"),
])
def test_a_usage_error_is_one_line_naming_the_help_of_the_command_run(cli, args, says):
    """An option missing its value pointed to `lmkit --help`: click's parser leaves its context out."""
    result = cli(*args)
    assert result.exit_code == 2 and result.stderr == says + "\n", result.output


@pytest.mark.parametrize("args", [[], ["corpus"], ["vocab"]])
def test_a_group_alone_shows_its_help_not_an_error(cli, args):
    result = cli(*args)
    assert "Usage: lmkit" in result.output and "error:" not in result.output, result.output


def test_a_model_path_missing_here_but_under_lmkit_home_says_where_it_is(cli, tmp_path, monkeypatch):
    """Pass 86: with $LMKIT_HOME set, the README's checkpoints/NAME failed from another folder as 'no such model
    directory', though training had printed the home's checkpoints folder."""
    home = tmp_path / "home"
    model = home / "checkpoints" / "m"
    assert cli("ngram", "--train", TINY["en"]["train"], "--order", "2", "--out", model).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("LMKIT_HOME", str(home))
    hint = f"(but {model} is there: $LMKIT_HOME moves where lmkit writes and finds by name"
    assert_one_line_error(cli("eval", "checkpoints/m"), "checkpoints/m: no such model directory or ARPA file", hint)
    assert_one_line_error(cli("train", "--resume", "checkpoints/m"), "--resume checkpoints/m: no such directory", hint)
    monkeypatch.delenv("LMKIT_HOME")
    assert "LMKIT_HOME" not in cli("eval", "checkpoints/m").output
