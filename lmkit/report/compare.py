"""Reports: several models scored on one test text, compared only where the comparison is fair.

    rows = [describe_model(d, corpus) for d in directories]
    report = build_report(rows, title="tang300 (char)", commands=[...])
    write_report(report, Path("reports/tang300-char"))   # report.md, report.json, report.html, *.png

Perplexity is a per-token number: two models share a perplexity column only
when they have the same vocabulary (hence the same tokens) and were tested on
the same text. Otherwise the report gives one perplexity table per vocabulary
and compares everything by bits per character of the test text, which does
not depend on how the text was cut into tokens.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lmkit.checkpoint.learning_curve import read_metrics
from lmkit.checkpoint.model_source import ARPA_WORDS_ADVICE, LoadedModel, open_model
from lmkit.corpus.fetch import sha256_file
from lmkit.errors import VocabError, counted, printable
from lmkit.evaluate.perplexity import mostly_unknown, scored_by
from lmkit.evaluate.text import EvalText, default_text, is_backward, model_split_text, score_text
from lmkit.models.ngram.arpa import UNKNOWN_MISSING
from lmkit.report.folder import REPLACED, REPORT_FILES, REPORT_MARKER, claim_report_folder, written_before
from lmkit.report.tokens import passage_surprisal

CURVE_KEYS = ("step", "tokens", "time", "valid_ppl", "valid_bpc")


@dataclass
class ModelReport:
    """One model's line in the report, with everything needed to redraw it."""

    name: str
    directory: str
    kind: str
    tokenizer: str
    vocab_size: int
    vocab_fingerprint: str
    parameters: int | None
    disk_bytes: int
    train_seconds: float | None
    valid: dict | None                      # Evaluation.to_dict() on the validation text
    test: dict                              # ... on the test text
    test_text: str
    test_digest: str
    curve: list[dict] = field(default_factory=list)   # one point per validation during training
    sample: str = ""
    command: str | None = None
    adaptive: dict = field(default_factory=dict)      # regime -> its test figures (lmkit.evaluate.adaptive)
    passage: list = field(default_factory=list)       # the test text's first lines as [[piece, bits], ...] per line
    reads_arpa_words: bool = False                    # an ARPA file given no tokenizer (LoadedModel's)
    architecture: str = ""                            # what was trained, e.g. "lstm 1 x 384, bf16" (architecture())
    backward: bool = False                            # reads each line right to left (its passage: p(x_t | after))
    closed_vocabulary: bool = False                   # an ARPA file without <unk>: each OOV costs log10 -100

    @property
    def token_unit(self) -> tuple[str, str]:
        """What its perplexity averages over: its tokenizer and vocabulary (the same ids cut from the text by another
        tokenizer, an ARPA file's words against a character model's characters, are other tokens)."""
        return self.tokenizer, self.vocab_fingerprint

    @property
    def mostly_unknown(self) -> bool:
        """So much of the test text outside the vocabulary that the row's figures mean little (Evaluation's)."""
        return mostly_unknown(self.test["tokens"], self.test["oov_rate"])

    @property
    def zero_probability(self) -> int:
        """Test tokens the model gives probability zero (an unsmoothed N-gram's unseen events): its figures are
        infinite, drawn in no chart and never marked best."""
        return self.test.get("zero_probability", 0)


def architecture(config: dict) -> str:
    """What a model's config.json says was trained, in a few words: "lstm 1 x 384, bf16" (the precision its last
    training session ran in), "5-gram kn"; its kind alone where it records no shape. The train command a report
    shows leaves out what the machine chose (the shape, the precision), so the table says it."""
    kind = str(config.get("kind") or "")
    if "order" in config:
        return f"{config['order']}-gram {config.get('smoothing') or ''}".strip()
    model = config.get("model")
    if not isinstance(model, dict) or "hidden_size" not in model:
        return kind
    runtime = config.get("runtime")
    precision = runtime.get("precision") if isinstance(runtime, dict) else None
    shape = f"{kind} {model.get('layers') or 1} x {model['hidden_size']}"
    return f"{shape}, {precision}" if precision else shape


def parameter_count(model) -> int | None:
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return None
    return sum(p.numel() for p in {id(p): p for p in parameters()}.values())


def training_seconds(config: dict, curve: list[dict]) -> float | None:
    seconds = (config.get("train") or {}).get("seconds")
    if seconds is None and curve:
        seconds = curve[-1].get("time")
    return None if seconds is None else float(seconds)


def split_text(config: dict, directory: Path, corpus, split: str) -> EvalText:
    """A split of `corpus`, else of the corpus the model was trained on."""
    if corpus is None:
        return default_text(config, directory, split)
    return model_split_text(config, directory, corpus, split)


def model_texts(config: dict, directory: Path, corpus) -> tuple[EvalText, EvalText]:
    return split_text(config, directory, corpus, "valid"), split_text(config, directory, corpus, "test")


def history(member: LoadedModel) -> list[dict]:
    """The validation curve a model directory's training left (an ARPA file has none)."""
    return read_metrics(member.path) if member.path.is_dir() else []


def adaptive_figures(member: LoadedModel, corpus, test_text: EvalText, adaptive, scoring: dict) -> dict:
    """The adaptive regimes asked for that this model can run, tuned on valid and scored on test ({} if none)."""
    from lmkit.evaluate.adaptive import evaluate_adaptive, supported

    options = supported(member.model, adaptive) if adaptive is not None else None
    if options is None or not options.any:
        return {}
    return evaluate_adaptive(member, test_text, lambda split: split_text(member.config, member.path, corpus, split),
                             options, device=scoring.get("device", "cpu"))


def describe_model(source: str | Path | LoadedModel, corpus=None, name: str | None = None, sample_tokens: int = 80,
                   seed: int = 1234, adaptive=None, **scoring) -> ModelReport:
    """Load (a model directory or an ARPA file, unless already loaded), evaluate on valid and test (of `corpus`,
    else the model's own corpus), sample, read its history; with `adaptive` (an AdaptiveConfig) also the
    neural cache and dynamic evaluation where the model supports them."""
    member = source if isinstance(source, LoadedModel) else open_model(source)
    model, tokenizer, config, directory = member.model, member.tokenizer, member.config, member.path
    valid_text, test_text = model_texts(config, directory, corpus)
    with scored_by(member.name):  # an unsmoothed model's unseen events: a row of infinite figures, and a note
        valid = score_text(model, tokenizer, config, valid_text, zero_allowed=True, **scoring).evaluation
        test_scores = score_text(model, tokenizer, config, test_text, zero_allowed=True, **scoring)
    test = test_scores.evaluation
    curve = [{k: r[k] for k in CURVE_KEYS if k in r} for r in history(member)]
    return ModelReport(
        name=printable(name or directory.name), directory=str(directory), kind=str(config.get("kind")),
        tokenizer=tokenizer.describe(), vocab_size=len(tokenizer.vocab), vocab_fingerprint=tokenizer.vocab.fingerprint(),
        parameters=parameter_count(model), disk_bytes=member.disk_bytes(),
        train_seconds=training_seconds(config, curve), valid=valid.to_dict(), test=test.to_dict(),
        test_text=test_text.label, test_digest=test_text.digest, curve=curve,
        sample=model_sample(model, tokenizer, sample_tokens, seed, is_backward(config)),
        command=printable((config.get("train") or {}).get("command") or "") or None,
        adaptive=adaptive_figures(member, corpus, test_text, adaptive, scoring),
        passage=[] if test.zero_probability else passage_surprisal(tokenizer, test_text, test_scores,
                                                                    is_backward(config)),
        reads_arpa_words=member.reads_arpa_words, architecture=architecture(config), backward=is_backward(config),
        closed_vocabulary=member.closed_vocabulary,
    )


def model_sample(model, tokenizer, tokens: int, seed: int, reverse: bool) -> str:
    if tokens <= 0:
        return ""
    from lmkit.generate.sampling import sample_text

    return sample_text(model, tokenizer, tokens, seed, reverse).strip("\n")


def describe_mixture(directories: list[Path], names: list[str], corpus=None, sample_tokens: int = 80,
                     seed: int = 1234, **scoring) -> ModelReport:
    """A row for the interpolation of `directories` (or ARPA files), its weights tuned by EM on the validation text."""
    from lmkit.evaluate.mix import load_members, member_scores, mixed
    from lmkit.models.mix import Interpolated, tune_weights

    members = load_members(directories)
    valid_text, test_text = model_texts(members[0].config, Path(directories[0]), corpus)
    valid_scores = member_scores(members, valid_text, **scoring)
    weights = tune_weights([s.logp for s in valid_scores])
    valid = mixed(valid_scores, weights, valid_text, names, members[0].tokenizer.vocab).evaluation
    test_scores = mixed(member_scores(members, test_text, **scoring), weights, test_text, names,
                        members[0].tokenizer.vocab)
    test = test_scores.evaluation
    model = Interpolated([m.model for m in members], weights)
    counts = [parameter_count(m.model) for m in members]
    seconds = [training_seconds(m.config, history(m)) for m in members]
    vocab = members[0].tokenizer.vocab
    return ModelReport(
        name=printable(" + ".join(f"{w:.2f} {n}" for w, n in zip(weights, names))),
        directory=",".join(map(str, directories)),
        kind="interpolated", tokenizer=members[0].tokenizer.describe(), vocab_size=len(vocab),
        vocab_fingerprint=vocab.fingerprint(), parameters=sum(c for c in counts if c) or None,
        disk_bytes=sum(m.disk_bytes() for m in members),
        train_seconds=sum(s for s in seconds if s is not None) if any(s is not None for s in seconds) else None,
        valid=valid.to_dict(), test=test.to_dict(), test_text=test_text.label, test_digest=test_text.digest,
        sample=model_sample(model, members[0].tokenizer, sample_tokens, seed, is_backward(members[0].config)),
        command=f"lmkit eval --mix {','.join(map(str, directories))} --weights auto",
        architecture=" + ".join(architecture(m.config) for m in members),
        passage=passage_surprisal(members[0].tokenizer, test_text, test_scores, is_backward(members[0].config)),
        backward=is_backward(members[0].config),
    )


# --- fairness --------------------------------------------------------------------------------
def comparable_groups(rows: list[ModelReport]) -> list[list[ModelReport]]:
    """Rows that may share a perplexity column: same tokens (tokenizer and vocabulary) and same test text, in
    first-seen order."""
    groups: dict[tuple, list[ModelReport]] = {}
    for row in rows:
        groups.setdefault((row.token_unit, row.test_digest), []).append(row)
    return list(groups.values())


def check_perplexity_comparable(rows: list[ModelReport]) -> None:
    """VocabError explaining why these rows cannot share one perplexity column."""
    if len({r.test_digest for r in rows}) > 1:
        texts = ", ".join(sorted({r.test_text for r in rows}))
        raise VocabError(f"the models were tested on different texts ({texts}): their perplexities are not comparable")
    if len({r.token_unit for r in rows}) > 1:
        kinds = ", ".join(sorted({f"{r.tokenizer} V={r.vocab_size}" for r in rows}))
        raise VocabError(
            f"the models use different tokenizers or vocabularies ({kinds}): perplexity averages over tokens, and their tokens differ; "
            "compare bits per character of the same test text instead")


def fairness_notes(rows: list[ModelReport]) -> list[str]:
    notes = []
    try:
        check_perplexity_comparable(rows)
    except VocabError as exc:
        notes.append(f"One perplexity column is refused: {exc}.")
    if len({r.test_digest for r in rows}) > 1:
        shared: dict[str, tuple[str, list[str]]] = {}
        for row in rows:
            shared.setdefault(row.test_digest, (row.test_text, []))[1].append(row.name)
        notes.append("Bits per character compare only models tested on the same text: "
                     + "; ".join(f"{text}: {', '.join(names)}" for text, names in shared.values()) + ".")
    if any(r.test["oov"] and not r.closed_vocabulary for r in rows):
        notes.append("OOV tokens are scored as <unk>, which pools every unknown token into one and flatters models "
                     "with small vocabularies; the perplexity without OOVs leaves those predictions out (as KenLM does).")
    for row in rows:
        if row.closed_vocabulary and row.test["oov"]:
            each = "costs" if row.test["oov"] == 1 else "each cost"
            notes.append(f"{row.name} lists no <unk> (an ARPA file of a closed vocabulary): its "
                         f"{counted(row.test['oov'], 'OOV test token')} {each} log10 probability {UNKNOWN_MISSING:g}, as "
                         "KenLM gives it, which its perplexity and bits count in full; compare its perplexity without "
                         "OOVs.")
        if row.zero_probability:
            verb = "has" if row.zero_probability == 1 else "have"
            notes.append(f"{row.name}: {counted(row.zero_probability, 'test token')} {verb} probability zero under it "
                         "(an unsmoothed N-gram's unseen events), so its perplexity is infinite and it is not marked "
                         "best; add-k or Kneser-Ney smoothing, or a mix with a smoothed model, gives them probability.")
        if row.mostly_unknown:
            notes.append(f"{row.name}: {100 * row.test['oov_rate']:.1f}% of its test tokens are outside its vocabulary, "
                         "so its figures mean little and it is not marked best"
                         + (f" ({ARPA_WORDS_ADVICE})." if row.reads_arpa_words else
                            " (was it trained on another text, or with another tokenizer?)."))
    return notes


def unrun_regime_notes(rows: list[ModelReport], asked: list[str]) -> list[str]:
    """A note for each regime asked for (AdaptiveConfig.asked) that no model of the report could run: its table
    column would otherwise be missing with nothing said."""
    from lmkit.evaluate.adaptive_config import REGIMES

    return [f"{REGIMES[regime][0]} was asked for, but no model in this report can run it: it needs {REGIMES[regime][1]}."
            for regime in asked if not any(regime in row.adaptive for row in rows)]


# --- the whole report ------------------------------------------------------------------------
@dataclass
class Report:
    title: str
    rows: list[ModelReport]
    notes: list[str]
    commands: list[str]
    environment: dict
    created: str

    @property
    def groups(self) -> list[list[ModelReport]]:
        return comparable_groups(self.rows)

    def to_json(self) -> dict:
        data = asdict(self)
        data["groups"] = [[r.name for r in group] for group in self.groups]
        return data


def environment() -> dict:
    import numpy
    import torch

    from lmkit.checkpoint.save_load import lmkit_version

    return {
        "lmkit": lmkit_version(), "python": sys.version.split()[0], "torch": torch.__version__,
        "numpy": numpy.__version__, "platform": platform.platform(), "machine": platform.machine(),
        "processor": platform.processor() or None, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def build_report(rows: list[ModelReport], title: str, commands: list[str] | None = None,
                 asked_regimes: list[str] = ()) -> Report:
    if not rows:
        raise VocabError("a report needs at least one model")
    notes = fairness_notes(rows) + unrun_regime_notes(rows, list(asked_regimes))
    return Report(title=title, rows=rows, notes=notes, commands=list(commands or []),
                  environment=environment(), created=time.strftime("%Y-%m-%d %H:%M:%S %z"))


def own_file_digest(path: Path, earlier: dict[str, set[str]]) -> str | None:
    """The sha256 of the regular file at `path` where it is one `earlier` (folder.written_before) records, else
    None."""
    if not path.is_file() or path.is_symlink():
        return None
    digest = sha256_file(path)
    return digest if digest in earlier.get(path.name, ()) else None


def write_report(report: Report, directory: str | Path) -> dict[str, Path]:
    """report.md, report.json, report.html and the PNG plots in `directory`; returns what was written."""
    from lmkit.files.writing import utf8_bytes, write_files_together
    from lmkit.files.json_text import json_file_text
    from lmkit.report.html import render_html
    from lmkit.report.markdown import render_markdown
    from lmkit.report.plots import draw_plots

    directory = Path(directory)
    drawn = draw_plots(report)  # everything is drawn and rendered before a file is written: a report stopped
    written = {kind: directory / name for kind, (name, _) in drawn.items()}  # meanwhile changes nothing
    pngs = {kind: png for kind, (_, png) in drawn.items()}
    files = {kind: directory / name for kind, name in zip(("json", "markdown", "html"), REPORT_FILES)}
    markdown, page = utf8_bytes(render_markdown(report, written)), utf8_bytes(render_html(report, pngs))
    summary = {**report.to_json(), "plots": {kind: path.name for kind, path in written.items()},
               "plot_sha256": {written[kind].name: hashlib.sha256(png).hexdigest() for kind, png in pngs.items()},
               "file_sha256": {files[kind].name: hashlib.sha256(data).hexdigest()  # an edit is then seen as one
                               for kind, data in (("markdown", markdown), ("html", page))}}
    earlier = written_before(directory) if REPORT_MARKER.present(directory) else {}  # marked: lmkit's own
    # the files replaced, as they are now (check_report_folder proved each lmkit's): a report killed between its
    # renames leaves some of them beside the new report.json, which must still prove them lmkit's
    summary[REPLACED] = {name: digest for name in earlier if (digest := own_file_digest(directory / name, earlier))}
    claim_report_folder(directory)
    # renamed in the reverse order (write_files_together): report.json first, so no file is ever newer than it
    write_files_together({**{written[kind]: png for kind, png in pngs.items()},
                          files["markdown"]: markdown, files["html"]: page,
                          files["json"]: utf8_bytes(json_file_text(summary))})
    kept = {p.name for p in [*written.values(), *files.values()]}
    for name in set(earlier) - kept:  # a plot this report has not: nothing links to it
        if own_file_digest(directory / name, earlier):
            (directory / name).unlink()  # the very file lmkit wrote, by its hash; anything else there is the user's
    return {**written, **files}
