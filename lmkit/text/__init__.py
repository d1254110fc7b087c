"""Stage 2, text to ids: tokenizers, the vocabulary, id streams and the batches cut from them.

    tokenizers       char | word (+ jieba) | sentencepiece; the only place text is cut into tokens
    spm_proto        the few fields of sentencepiece's model file lmkit reads or sets, in protobuf's wire format
    tokenizer_options  what each tokenizer kind takes when fitted: one default, help and check each
    punctuation      a whitespace word cut into word pieces and punctuation marks, and joined back
    display_width    the terminal columns text takes (a Chinese character two), to line tokens up
    unsegmented      is this Chinese (or Japanese) text without spaces? jieba_words: segmenting it with jieba
    normal_forms     text read as written; which Unicode form (NFC, NFKC) would read a text's unknown tokens
    written_marks    lines typed with their own <s> or </s>, which lmkit reads as text, not as a line's start or end
    lines            whole lines of an id stream, framed for a bidirectional (cloze) model
    vocab            <pad> <unk> <s> </s> and the token <-> id mapping every model shares
    tokenizer_cache  tokenizers cached beside their corpus, and their coverage of valid/test
    encode           lines -> one int32 stream (each line's ids, then </s>)
    encode_large     the same for split files too large for memory (a datasets map, streamed)
    id_cache         encoded splits cached beside the corpus
    batches          batchify and truncated-BPTT windows
"""
