"""Neural language models: RNNLM over torch.nn, and the tutorials' Elman RNN written by hand.

    rnn           RNNLM: embedding -> stacked rnn_tanh | rnn_relu | gru | lstm -> softmax
    heads         output layers (full, adaptive softmax)
    recurrence    the stacked recurrent layers on torch's fused kernels; dropouts: AWD-LSTM's weight drop, locked
                  and embedding dropout
    softmax_loss  log p(target) of a linear softmax with a hand-written gradient
    cloze         ClozeRNN: the bidirectional birnn | bigru | bilstm, each token predicted from both sides
    scratch       ScratchRNN: the Elman RNN with its forward pass and BPTT by hand (elman_bptt)
    elman_bibptt  the bidirectional Elman RNN's forward pass and BPTT in both directions, by hand
    gradcheck     BPTT against finite differences and autograd; vanishing/exploding norms
                  (gradcheck_sizes: their default sizes, read by the CLI without torch)
    weights       safetensors reading; weight_files: a module's weights saved and loaded, checked
"""
