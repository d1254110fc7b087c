"""Stage: model directories on disk (DESIGN.md's checkpoint directory), and models as a user names them.

    save_load       save_model / load_model: config.json, tokenizer.json, the weights, written atomically
    saved_config    the records config.json keeps beside a model's settings (training, vocab, tokenizer)
    ownership       which folders and files are lmkit's to write, replace or remove, and which are a user's
    learning_curve  metrics.jsonl, one line per evaluation
    model_source    open_model: a model directory or an ARPA file, as every command that takes a model opens it
"""
