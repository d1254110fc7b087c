"""N-gram language models: counting, smoothing, back-off tables, ARPA in and out.

Building (count -> smoothing/kneser_ney -> tables) is kept apart from reading
models built elsewhere (arpa -> rows -> listed -> tables), as in KenLM.

    model           NGramLM and build_ngram
    count           vectorised counting with KenLM's sentence conventions; external_count in bounded memory
    smoothing       the smoothing registry (mle, add-k, kn); kneser_ney: interpolated modified KN
    tables          back-off tables every smoothed model and ARPA file comes down to
    store           model.ngram.npz read back, checked
    arpa            reading ARPA files; arpa_write: writing them; rows + listed: tables from listed n-grams
"""
