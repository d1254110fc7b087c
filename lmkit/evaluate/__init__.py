"""Stage: evaluation, one definition of perplexity for every model.

    perplexity  total NLL (nats) and token count -> perplexity, bits/token, bits/char
    text        what a model is evaluated on (a split or a file) and evaluating a model directory on it
    mix         interpolations of model directories, weights tuned on held-out text
    cloze       pseudo-perplexity of a bidirectional (cloze) model, never mixed with perplexities
    fresh_start does a network read well from a fresh line start, as every reading of a text begins?

The regimes beyond the static model, each reported apart: two learn from the test text already scored, one
reads a memory of the train text:
    cache            the neural cache (Grave et al. 2016), a pointer over the model's recent hidden states
    dynamic          dynamic evaluation (Krause et al. 2018), gradient steps on each scored segment
    memory           a nearest-neighbour memory of a text (Khandelwal et al.'s kNN-LM), read by lmkit eval and
                     report (--memory) and by lmkit fill where it scores a filler
    adaptive_config  their options; adaptive: tuning them on valid, then scoring test
"""
