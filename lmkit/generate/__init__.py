"""Stage: text from models, written once against the LanguageModel protocol.

    sampling  greedy, temperature, top-k, top-p; SamplingConfig
    beam      beam search (and reordering any model's state rows)
    decode    the one entry point choosing between them
    fill      fill-in-the-blank with a forward and a backward model; cloze_fill: with one bidirectional model
              (either may read a memory of a text at the filler's places: lmkit.evaluate.memory)
    nbest, error_rate, rescore   n-best lists read strictly, WER/CER, reranking with a tuned LM weight
"""
