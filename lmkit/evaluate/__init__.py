"""Stage: evaluation, one definition of perplexity for every model.

    perplexity  total NLL (nats) and token count -> perplexity, bits/token, bits/char
    text        what a model is evaluated on (a split or a file) and evaluating a model directory on it
    mix         interpolations of model directories, weights tuned on held-out text
"""
