"""The body of `lmkit eval`: choose the text, score, write per-line scores, return plain numbers."""
from __future__ import annotations

from pathlib import Path

from lmkit.checkpoint import load_model
from lmkit.errors import ConfigError
from lmkit.evaluate.text import EvalText, default_text, score_text, write_line_scores


def choose_text(corpus_spec, config: dict, directory: Path, split: str, file: Path | None) -> EvalText:
    """--file, else the split of --corpus/--train, else the split of the corpus the model was trained on."""
    if file is not None:
        return EvalText.from_file(file)
    if corpus_spec.name or corpus_spec.train:
        return EvalText.from_split(corpus_spec.open(), split)
    return default_text(config, directory, split)


def run_eval(model_dir: Path, split: str, file: Path | None, corpus_spec, per_line: Path | None, scoring: dict) -> dict:
    model, tokenizer, config = load_model(model_dir)
    text = choose_text(corpus_spec, config, model_dir, split, file)
    scores = score_text(model, tokenizer, config, text, **scoring)
    if per_line is not None:
        write_line_scores(per_line, scores)
    entry = {"name": str(model_dir), "kind": config.get("kind"), "evaluation": scores.evaluation.to_dict()}
    return {"models": [entry], "text": text.label, "text_sha256": text.digest,
            "reset_per_line": scoring["reset_per_line"], "per_line": str(per_line) if per_line else None}


def run_mix(mix: str, weights: str, split: str, file: Path | None, corpus_spec, per_line: Path | None,
            scoring: dict) -> dict:
    from lmkit.checkpoint import read_config
    from lmkit.evaluate.mix import evaluate_mix, parse_weights

    directories = [Path(part.strip()) for part in mix.split(",") if part.strip()]
    if len(directories) < 2:
        raise ConfigError(f"--mix needs at least two model directories separated by commas, got {mix!r}")
    chosen = parse_weights(weights)
    config = read_config(directories[0])
    text = choose_text(corpus_spec, config, directories[0], split, file)
    tune_text = choose_text(corpus_spec, config, directories[0], "valid", None) if chosen == "auto" else None
    result = evaluate_mix(directories, chosen, text, tune_text, **scoring)
    if per_line is not None:
        write_line_scores(per_line, result.mixture)
    models = [{"name": name, "kind": read_config(name).get("kind"), "evaluation": s.evaluation.to_dict()}
              for name, s in zip(result.names, result.members)]
    mixture = {"weights": [float(w) for w in result.weights], "tuned_on": result.tuned_on,
               "evaluation": result.mixture.evaluation.to_dict()}
    return {"models": models, "mixture": mixture, "text": text.label, "text_sha256": text.digest,
            "reset_per_line": scoring["reset_per_line"], "per_line": str(per_line) if per_line else None}
