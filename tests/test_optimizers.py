"""The trainer's optimizer: AdamW through torch's fused kernel on CPU, the same update as the plain form."""
import torch

from lmkit.train.optimizers import make_optimizer


def _weights(seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    return [torch.randn(300, 16, requires_grad=True), torch.randn(16, requires_grad=True)]


def test_adamw_is_fused_on_cpu_and_sgd_is_plain():
    adamw = make_optimizer(_weights(0), "adamw", lr=1e-2)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["fused"]
    sgd = make_optimizer(_weights(0), "sgd", lr=1.0, weight_decay=0.1)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["weight_decay"] == 0.1


def test_fused_adamw_matches_the_plain_update_and_takes_its_saved_state():
    fused, plain = _weights(1), _weights(1)
    ours = make_optimizer(fused, "adamw", lr=1e-2, weight_decay=0.01)
    reference = torch.optim.AdamW(plain, lr=1e-2, weight_decay=0.01, foreach=False)
    for step in range(20):
        torch.manual_seed(100 + step)
        grads = [torch.randn_like(w) for w in fused]
        for w, v, g in zip(fused, plain, grads):
            w.grad, v.grad = g.clone(), g.clone()
        ours.step()
        reference.step()
    for w, v in zip(fused, plain):
        torch.testing.assert_close(w, v, rtol=1e-5, atol=1e-6)
    # a state the plain form saved (older checkpoints) continues in the fused form
    resumed = make_optimizer(plain, "adamw", lr=1e-2, weight_decay=0.01)
    resumed.load_state_dict(reference.state_dict())
    assert float(resumed.state_dict()["state"][0]["step"]) == 20
