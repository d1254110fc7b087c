"""Stage: the subcommands of the `lmkit` click group (lmkit/cli.py), thin: options in, a stage's work out.

    corpus, vocab, tokenize, train, ngram, evaluate, generate, fill, rescore, report, gradcheck
                   one module per command (`evaluate` is `lmkit eval`): its options, checked, and the call
    train_run, evaluate_run, rescore_run, report_run
                   the body of a longer command, kept apart from its options
    train_models   model name -> config class and builder; train_fit: the run's shape for this machine;
                   train_launch: --nproc N processes; train_output, train_summary: what training prints;
                   resume_checks: options that contradict a --resume'd model; train_unread: training options
                   the run would never read
    fill_texts     the sentences lmkit fill fills (TEXT or the lines of --text-file); fill_output: its tables
    common         options several commands share (corpus, tokenizer, models); options: options generated from
                   the config dataclasses; output_paths: the paths a user names, checked as they are read;
                   output_guard: a long run outlives its closed output; progress: tqdm bars on stderr;
                   usage: usage errors as one line
"""
