"""Neural language models: RNNLM over torch.nn, and the tutorials' Elman RNN written by hand.

    rnn           RNNLM: embedding -> stacked rnn_tanh | rnn_relu | gru | lstm -> softmax
    heads         output layers (full, adaptive softmax)
    softmax_loss  log p(target) of a linear softmax with a hand-written gradient
    scratch       ScratchRNN: the Elman RNN with its forward pass and BPTT by hand (elman_bptt)
    gradcheck     BPTT against finite differences and autograd; vanishing/exploding norms
    weights       safetensors reading
"""
