#!/usr/bin/python3
"""parity.py NNC SOURCE_DIR CASE [--perturb NAME] [--keep DIR] — nnc against
PyTorch: 5 optimizer steps (Adam unless the case says) from the same weights
on the same batches.

CASE is cnn (examples/fashion_cnn.nn), transformer (transformer_block.nn
here), lstm (lstm_layer.nn here), gru (gru_layer.nn), rnn_activations
(rnn_activations.nn), conv1d (conv1d_layers.nn) or batch_norm
(batch_norm.nn; its running statistics are in init.safetensors and compared
like the parameters, and `eval` on the test images from the final
checkpoint is compared with the module in eval mode), or one of the loss and
optimizer cases on a small MLP (mlp_*.nn here): rmsprop (the Keras softmax +
cross_entropy form, torch.optim.RMSprop with momentum, clip_norm active in
every step), bce (a sigmoid output's binary_cross_entropy against PyTorch's
binary_cross_entropy_with_logits), huber and mae (regression of the class
id), or mha / mha_causal (mha_padded.nn / mha_causal.nn here: the
multihead_attention layer against torch.nn.MultiheadAttention with its
key-padding and causal masks), or qat (mlp_qat.nn built with --qat:
fake_quant against torch.fake_quantize_per_channel_affine and
_per_tensor_affine, the observers compared like batch norm's statistics and
in `eval`). For the case's model:
  1. PyTorch builds the same network (its own layers: nn.Conv2d, nn.Linear,
     nn.LayerNorm, nn.LSTM, nn.GRU, nn.RNN, nn.Conv1d, nn.BatchNorm1d/2d;
     the attention by hand) from a fixed torch seed;
     its weights, in nnc's layout (dense w is [in, out], the transpose of
     nn.Linear's weight), are written to init.safetensors, and both sides load
     that file.
  2. A small deterministic data set is written as .npy files.
  3. `nnc build`, then `./model train --init init.safetensors --steps 5
     --val-split 0 --log log.csv --checkpoint out.safetensors`.
  4. PyTorch trains with torch.optim.Adam (or the case's optimizer, and
     clip_grad_norm_ where the case clips) on the same batches: the runtime's
     sample order is reproduced here exactly (rt_shuffle of rt_philox.c,
     applied as rt_train.c does: one split shuffle of 0..n-1, then one
     shuffle per epoch).
  5. The loss of every step (the log) and every tensor of the checkpoint (each
     parameter, its Adam moments <name>.m and <name>.v or RMSprop's
     <name>.square_avg and <name>.momentum, and opt.step) are
     compared with PyTorch's.

Relative error, per tensor: max_i |nnc_i - torch_i| / max_i |torch_i| (the
worst element against the tensor's scale, so an element near zero neither
hides nor inflates an error); per loss: |nnc - torch| / |torch| (the log
prints losses to 6 digits: a resolution of 5e-6 at worst). Gated at
1e-4 (each must be at most that):
  - the loss of each step;
  - each Adam moment <name>.m, <name>.v, all elements (these are the
    gradients' running mean and mean square: the check of forward and
    backward), and opt.step;
  - each parameter, on its well-conditioned elements, and its L2 relative
    error ||nnc - torch|| / ||torch|| on all elements.
An element is eps-conditioned, and left out of the parameter's max, when in
some step its Adam denominator was tiny but not zero: 0 < sqrt(v_hat) < 1e-5
(1000 eps) in PyTorch's float64 run. There the step lr m_hat / (sqrt(v_hat)
+ eps) turns float32 rounding noise in a gradient near eps (a ReLU unit
active on one sample, say) into a visible weight change: PyTorch's own
float32 run differs from its float64 run by up to 1.4e-3 of dense_1.w's
scale on the CNN (init seeds 0-7: 4 of 8 over 1e-4), an error no float32
implementation avoids. The same holds where a gradient is 0 by exact
cancellation (two samples' equal terms of opposite signs: the mae case's
dense_1.w[374, 13] at step 2): a GEMM that accumulates with FMAs returns
the first product's rounding error there, about 1e-11, which Adam turns
into a step of lr 1e-11 / (1e-11 + eps) (nnc on oneDNN, --gemm's default),
where float64 and PyTorch's float32 run return exactly 0. The float64 run is
therefore repeated on float inputs moved by 1e-9 of themselves, which
turns such zeros into tiny gradients and leaves structural zeros (a pixel
that is 0 in every sample) zero; elements eps-conditioned in either run
are left out. Their count and the max over all elements are
printed beside the gated figures, and each side's error against PyTorch in
float64 (the last columns) shows the float32 noise floor.

--perturb NAME moves one element of NAME in PyTorch's copy of the initial
weights by 1e-3 of that tensor's scale (nnc keeps the file): the comparison
must then fail, and the script exits 0 only if it does (the test can fail).
Exits 77 (skipped) for the lstm case while `nnc check` does not know `lstm`."""
import argparse
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:
    import numpy as np
    import torch
    import torch.nn.functional as F

    import safetensors_np  # tests/safetensors_np.py
except ImportError as ex:
    print("FAIL: %s; the parity tests need Debian's python3-numpy and python3-torch (bash .ci/setup)" % ex)
    sys.exit(1)

TOL = 1e-4
STEPS = 5
FMNIST = "/usr/share/datasets/fashion-mnist"

# ---- the runtime's sample order: rt_philox.c and rt_train.c, mirrored ----

RNG_SHUFFLE, RNG_SPLIT = 1, 2  # nnrt.h: RT_RNG_SHUFFLE, RT_RNG_SPLIT
U32 = 0xFFFFFFFF


def philox4x32(ctr, key):
    """Philox4x32-10 (Random123), as rt_philox4x32."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & U32, (k1 + 0xBB67AE85) & U32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & U32, (p0 >> 32) ^ c3 ^ k1, p0 & U32
    return c0, c1, c2, c3


# Random123's known answer (as tests/runtime checks rt_philox4x32 against).
assert philox4x32((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == (
    0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def rng_u32(seed, stream, purpose):
    """rt_rng_init + rt_rng_u32: the u32s of (seed, stream, purpose)."""
    key, block = (seed & U32, seed >> 32 & U32), 0
    while True:
        yield from philox4x32((block & U32, block >> 32 & U32, stream, purpose), key)
        block += 1


def rng_below(rng, n):
    """rt_rng_below: Lemire's multiply-shift with rejection."""
    m = next(rng) * n
    if m & U32 < n:
        threshold = (-n & U32) % n
        while m & U32 < threshold:
            m = next(rng) * n
    return m >> 32


def shuffle(idx, seed, stream, purpose):
    """rt_shuffle: Fisher-Yates from the back."""
    rng = rng_u32(seed, stream, purpose)
    for i in range(len(idx) - 1, 0, -1):
        j = rng_below(rng, i + 1)
        idx[i], idx[j] = idx[j], idx[i]


def batch_order(n, batch, steps, seed, static_batch):
    """The sample indices of each of the first `steps` batches of `train`
    with --val-split 0 (rt_train.c: setup and train_loop)."""
    order = list(range(n))
    shuffle(order, seed, 0, RNG_SPLIT)
    per_epoch = n // batch if static_batch else (n + batch - 1) // batch
    out, epoch = [], 0
    while len(out) < steps:
        idx = order[:]
        shuffle(idx, seed, epoch, RNG_SHUFFLE)
        out += [idx[s * batch : (s + 1) * batch] for s in range(per_epoch)][: steps - len(out)]
        epoch += 1
    return out


# ---- files ----


save_safetensors, load_safetensors = safetensors_np.save, safetensors_np.load


def fashion_rows(split, n):
    """The first n images ([n, 784] floats in [0, 1], as the runtime scales
    IDX pixels) and labels of Fashion-MNIST's train or t10k split."""
    import gzip

    pre = "train" if split == "train" else "t10k"
    if not os.path.isdir(FMNIST):
        print("FAIL: %s is missing; install Debian's dataset-fashion-mnist (bash .ci/setup)" % FMNIST)
        sys.exit(1)
    with gzip.open("%s/%s-images-idx3-ubyte.gz" % (FMNIST, pre)) as f:
        x = np.frombuffer(f.read(16 + n * 784), np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255
    with gzip.open("%s/%s-labels-idx1-ubyte.gz" % (FMNIST, pre)) as f:
        y = np.frombuffer(f.read(8 + n), np.uint8, offset=8).astype(np.int32)
    return x, y


# ---- the models ----
# Each case: the .nn file, the batch (static_batch: the model's batch dim is
# fixed, so the runtime drops a partial last batch), the data, the PyTorch
# module, and `names(module)`: nnc's parameter name -> (torch parameter,
# whether nnc's layout is its transpose, all axes reversed).


class Cnn(torch.nn.Module):
    """examples/fashion_cnn.nn."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 32, 3)
        self.fc1 = torch.nn.Linear(32 * 13 * 13, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))

    def names(self):
        return {"conv2d_1.w": (self.conv.weight, False), "conv2d_1.b": (self.conv.bias, False),
                "dense_1.w": (self.fc1.weight, True), "dense_1.b": (self.fc1.bias, False),
                "dense_2.w": (self.fc2.weight, True), "dense_2.b": (self.fc2.bias, False)}


class Block(torch.nn.Module):
    """transformer_block.nn: a pre-LN decoder block, attention by hand (the
    key projection without bias, as there)."""

    T, D, H = 16, 32, 4

    def __init__(self):
        super().__init__()
        D = self.D
        lin = torch.nn.Linear
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.attn_q, self.attn_k, self.attn_v, self.attn_out = lin(D, D), lin(D, D, bias=False), lin(D, D), lin(D, D)
        self.mlp_in, self.mlp_out = lin(D, 4 * D), lin(4 * D, D)
        self.head = lin(D, 10)
        with torch.no_grad():  # LayerNorm's ones and zeros would not show gamma and beta mixed up
            for ln in (self.ln_1, self.ln_2):
                ln.weight.add_(0.1 * torch.randn(D))
                ln.bias.add_(0.1 * torch.randn(D))

    def forward(self, x):  # x: [B, T, D]
        B, T, D, H = x.shape[0], self.T, self.D, self.H

        def heads(t):  # [B, T, D] -> [B, H, T, D/H]
            return t.view(B, T, H, D // H).transpose(1, 2)

        a = self.ln_1(x)
        q, k, v = heads(self.attn_q(a)), heads(self.attn_k(a)), heads(self.attn_v(a))
        s = q @ k.transpose(-1, -2) * (1 / math.sqrt(D // H))
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        h = x + self.attn_out(o)
        z = h + self.mlp_out(F.gelu(self.mlp_in(self.ln_2(h)), approximate="tanh"))
        return self.head(z.mean(1))

    def names(self):
        out = {}
        for n in ("ln_1", "ln_2"):
            ln = getattr(self, n)
            out[n + ".gamma"], out[n + ".beta"] = (ln.weight, False), (ln.bias, False)
        for n in ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out", "head"):
            lin = getattr(self, n)
            out[n + ".w"] = (lin.weight, True)
            if lin.bias is not None:
                out[n + ".b"] = (lin.bias, False)
        return out


class Lstm(torch.nn.Module):
    """lstm_layer.nn: nnc's one bias b is bias_ih_l0; bias_hh_l0 stays 0 and
    untrained (names() leaves it out, so Adam never sees it)."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, 32, batch_first=True)
        self.fc = torch.nn.Linear(32, 10)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, x):  # x: [B, 28, 28]
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])

    def names(self):
        return {"lstm_1.w": (self.lstm.weight_ih_l0, True), "lstm_1.u": (self.lstm.weight_hh_l0, True),
                "lstm_1.b": (self.lstm.bias_ih_l0, False), "dense_1.w": (self.fc.weight, True),
                "dense_1.b": (self.fc.bias, False)}


class Gru(torch.nn.Module):
    """gru_layer.nn: nnc's b is bias_ih, b_u is bias_hh (the one the reset
    gate multiplies along with weight_hh's n rows)."""

    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(28, 16, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(32, 10)
        with torch.no_grad():  # PyTorch's uniform init; nnc's biases would start at 0, these need not
            for p in (self.gru.bias_hh_l0, self.gru.bias_hh_l0_reverse):
                p.add_(0.1 * torch.randn(p.shape))

    def forward(self, x):  # x: [B, 28, 28]
        return self.fc(self.gru(x)[0].mean(1))

    def names(self):
        out = {"dense_1.w": (self.fc.weight, True), "dense_1.b": (self.fc.bias, False)}
        for nnc, t in (("", ""), ("_back", "_reverse")):
            g = self.gru
            out["gru_1.w" + nnc] = (getattr(g, "weight_ih_l0" + t), True)
            out["gru_1.u" + nnc] = (getattr(g, "weight_hh_l0" + t), True)
            out["gru_1.b" + nnc] = (getattr(g, "bias_ih_l0" + t), False)
            out["gru_1.b_u" + nnc] = (getattr(g, "bias_hh_l0" + t), False)
        return out


class RnnActivations(torch.nn.Module):
    """rnn_activations.nn: nnc's one bias b is bias_ih_l0; bias_hh_l0 stays
    0 and untrained."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(28, 24, batch_first=True)
        self.fc = torch.nn.ModuleList([torch.nn.Linear(24, 24) for _ in range(4)] + [torch.nn.Linear(24, 10)])
        with torch.no_grad():
            self.rnn.bias_hh_l0.zero_()
        self.rnn.bias_hh_l0.requires_grad_(False)

    def forward(self, x):
        h = self.rnn(x)[1][-1]
        h = F.leaky_relu(self.fc[0](h), 0.2)
        h = F.elu(self.fc[1](h), 0.7)
        h = F.silu(self.fc[2](h))
        h = F.softplus(self.fc[3](h))
        return self.fc[4](h)

    def names(self):
        out = {"simple_rnn_1.w": (self.rnn.weight_ih_l0, True), "simple_rnn_1.u": (self.rnn.weight_hh_l0, True),
               "simple_rnn_1.b": (self.rnn.bias_ih_l0, False)}
        for i, lin in enumerate(self.fc):
            out["dense_%d.w" % (i + 1)], out["dense_%d.b" % (i + 1)] = (lin.weight, True), (lin.bias, False)
        return out


class Conv1d(torch.nn.Module):
    """conv1d_layers.nn: nn.Conv1d over [B, C, T]; "same" padded as Keras
    pads it (T' = ceil(T / s), the odd row at the end). The weights'
    "transposed" is all axes reversed: [F, C, k] to nnc's [k, C, F]."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv1d(28, 16, 3), torch.nn.Conv1d(16, 8, 4, stride=2)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):  # x: [B, T, C]
        h = F.relu(self.c1(x.transpose(1, 2)))
        T, k, s = h.shape[2], 4, 2
        total = max((-(-T // s) - 1) * s + k - T, 0)
        h = self.c2(F.pad(h, (total // 2, total - total // 2)))
        return self.fc(h.amax(2))

    def names(self):
        return {"conv1d_1.w": (self.c1.weight, True), "conv1d_1.b": (self.c1.bias, False),
                "conv1d_2.w": (self.c2.weight, True), "conv1d_2.b": (self.c2.bias, False),
                "dense_1.w": (self.fc.weight, True), "dense_1.b": (self.fc.bias, False)}


class BatchNorm(torch.nn.Module):
    """batch_norm.nn: BatchNorm2d and BatchNorm1d(momentum=0.2). gamma, beta
    and the running statistics start away from ones and zeros, so that a
    mix-up would show; stats() maps nnc's statistics to the buffers."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn1 = torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.BatchNorm2d(4)
        self.fc1, self.fc2 = torch.nn.Linear(4 * 6 * 6, 16, bias=False), torch.nn.Linear(16, 10)
        self.bn2 = torch.nn.BatchNorm1d(16, momentum=0.2)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.weight.add_(0.1 * torch.randn(bn.weight.shape))
                bn.bias.add_(0.1 * torch.randn(bn.bias.shape))
                bn.running_mean.add_(0.1 * torch.randn(bn.running_mean.shape))
                bn.running_var.mul_(torch.empty(bn.running_var.shape).uniform_(0.5, 1.5))

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv(F.avg_pool2d(x, 2)))), 2)
        return self.fc2(F.leaky_relu(self.bn2(self.fc1(h.flatten(1)))))

    def names(self):
        out = {"conv2d_1.w": (self.conv.weight, False), "dense_1.w": (self.fc1.weight, True),
               "dense_2.w": (self.fc2.weight, True), "dense_2.b": (self.fc2.bias, False)}
        for n, bn in (("batch_norm_1", self.bn1), ("batch_norm_2", self.bn2)):
            out[n + ".gamma"], out[n + ".beta"] = (bn.weight, False), (bn.bias, False)
        return out

    def stats(self):
        return {n + s: getattr(bn, "running" + s[len(".running"):])
                for n, bn in (("batch_norm_1", self.bn1), ("batch_norm_2", self.bn2))
                for s in (".running_mean", ".running_var")}


class Mha(torch.nn.Module):
    """mha_padded.nn / mha_causal.nn: torch.nn.MultiheadAttention over an
    embedding, key_padding_mask = (ids == 0), masked mean pooling over the
    kept positions, a Linear head. nnc's attn.wqkv is in_proj_weight
    transposed, attn.bqkv in_proj_bias, attn.wo out_proj.weight transposed,
    attn.bo out_proj.bias. The biases start random (torch zeroes them), so
    that q, k and v's slices cannot be mixed up unseen."""

    T, D, H, V = 12, 16, 4, 20
    causal = False

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(self.V, self.D)
        self.attn = torch.nn.MultiheadAttention(self.D, self.H, batch_first=True)
        self.head = torch.nn.Linear(self.D, 10)
        with torch.no_grad():
            self.attn.in_proj_bias.add_(0.1 * torch.randn(3 * self.D))
            self.attn.out_proj.bias.add_(0.1 * torch.randn(self.D))

    def forward(self, x):  # x: token ids [B, T] (the harness makes them floats)
        ids = x.long()
        pad = ids == 0
        e = self.emb(ids)
        mask = torch.ones(self.T, self.T, dtype=torch.bool).triu(1) if self.causal else None
        a, _ = self.attn(e, e, e, key_padding_mask=pad, attn_mask=mask, need_weights=False)
        keep = (~pad).to(a.dtype).unsqueeze(-1)
        return self.head((a * keep).sum(1) / keep.sum(1).clamp(min=1))

    def names(self):
        return {"emb.table": (self.emb.weight, False), "attn.wqkv": (self.attn.in_proj_weight, True),
                "attn.bqkv": (self.attn.in_proj_bias, False), "attn.wo": (self.attn.out_proj.weight, True),
                "attn.bo": (self.attn.out_proj.bias, False), "head.w": (self.head.weight, True),
                "head.b": (self.head.bias, False)}


class MhaCausal(Mha):
    causal = True


def token_sequences():
    """28 training and 8 test sequences of ids in [1, 20), each of a random
    length in [1, 12] and right-padded with 0; random labels."""
    r = np.random.default_rng(7)
    x = r.integers(1, Mha.V, (36, Mha.T)).astype(np.int32)
    for row, n in zip(x, r.integers(1, Mha.T + 1, 36)):
        row[n:] = 0
    y = r.integers(0, 10, 36).astype(np.int32)
    return x[:28], y[:28], x[28:], y[28:]


# The key bias (the middle third of in_proj_bias) adds q.b_k to every score
# of a row, which softmax cancels: its gradient is 0 in exact arithmetic and
# rounding noise in each run, which Adam's normalised step turns into moves
# of up to lr. Those elements are left out of the parameter comparison (their
# Adam moments, noise far below the tensor's scale, are still compared).
MHA_EXEMPT = {"attn.bqkv": slice(Mha.D, 2 * Mha.D)}


class Mlp(torch.nn.Module):
    """mlp_*.nn: 784 -> 32 (ReLU) -> units; forward gives the logits (the
    softmax or sigmoid of the .nn is the loss's business)."""

    def __init__(self, units):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(784, 32), torch.nn.Linear(32, units)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))

    def names(self):
        return {"dense_1.w": (self.fc1.weight, True), "dense_1.b": (self.fc1.bias, False),
                "dense_2.w": (self.fc2.weight, True), "dense_2.b": (self.fc2.bias, False)}


class QatMlp(Mlp):
    """mlp_qat.nn built with --qat (passes/quantize.h): each Linear's weight
    through torch.fake_quantize_per_channel_affine (int8 [-127, 127], zero
    point 0, scale max |w| per output channel / 127) and its input through
    torch.fake_quantize_per_tensor_affine (u8 [0, 255], zero point 128, the
    observer's scale); an observer is torch's moving average (weight 0.01 per
    batch, the first batch's max |x| / 127 to start), updated before use in
    training mode and read in eval mode. Scales are at least float32's eps;
    they get no gradient."""

    EPS = float(torch.finfo(torch.float32).eps)

    def __init__(self):
        super().__init__(10)
        self.register_buffer("obs1", torch.zeros(()))
        self.register_buffer("obs2", torch.zeros(()))

    def act(self, x, obs):
        if self.training:
            with torch.no_grad():
                batch = x.abs().max() / 127
                obs.copy_(batch if obs.item() == 0 else obs * 0.99 + batch * 0.01)
        s = obs.detach().clamp_min(self.EPS).reshape(1).float()
        return torch.fake_quantize_per_tensor_affine(x, s, torch.tensor([128], dtype=torch.int32), 0, 255)

    def linear(self, fc, x, obs):
        w = fc.weight
        s = (w.detach().abs().amax(1) / 127).clamp_min(self.EPS).float()
        wq = torch.fake_quantize_per_channel_affine(w, s, torch.zeros(w.shape[0], dtype=torch.int32), 0, -127, 127)
        return F.linear(self.act(x, obs), wq, fc.bias)

    def forward(self, x):
        return self.linear(self.fc2, F.relu(self.linear(self.fc1, x, self.obs1)), self.obs2)

    def stats(self):
        return {"dense_1.w.act_scale": self.obs1, "dense_2.w.act_scale": self.obs2}


def fashion_data(shape, binary=False):
    """40 training and 8 test images of Fashion-MNIST, each of `shape`;
    binary: the labels are class >= 5 (sandal, shirt, sneaker, bag, boot)."""

    def data():
        x, y = fashion_rows("train", 40)
        tx, ty = fashion_rows("test", 8)
        if binary:
            y, ty = (y >= 5).astype(np.int32), (ty >= 5).astype(np.int32)
        return x.reshape((-1,) + shape), y, tx.reshape((-1,) + shape), ty

    return data


def random_sequences():
    """28 training and 8 test sequences of normal features, random labels."""
    r = np.random.default_rng(7)
    x = r.standard_normal((36, Block.T, Block.D)).astype(np.float32)
    y = r.integers(0, 10, 36).astype(np.int32)
    return x[:28], y[:28], x[28:], y[28:]


# batch 16 over 40 samples: epochs of 16 + 16 + 8, so 5 steps cross an epoch
# boundary (a reshuffle) and include a partial batch. The transformer's batch
# is static (8): 28 samples give 3 steps per epoch, the last 4 dropped.
CASES = {
    "cnn": dict(nn="examples/fashion_cnn.nn", batch=16, static_batch=False, seed=42, lr=1e-3,
                data=fashion_data((1, 28, 28)), module=Cnn),
    "transformer": dict(nn="tests/parity/transformer_block.nn", batch=8, static_batch=True, seed=7, lr=1e-3,
                        data=random_sequences, module=Block),
    "lstm": dict(nn="tests/parity/lstm_layer.nn", batch=16, static_batch=False, seed=7, lr=1e-3,
                 data=fashion_data((28, 28)), module=Lstm),
    "gru": dict(nn="tests/parity/gru_layer.nn", batch=16, static_batch=False, seed=7, lr=1e-3,
                data=fashion_data((28, 28)), module=Gru),
    "conv1d": dict(nn="tests/parity/conv1d_layers.nn", batch=16, static_batch=False, seed=7, lr=1e-3,
                   data=fashion_data((28, 28)), module=Conv1d),
    "batch_norm": dict(nn="tests/parity/batch_norm.nn", batch=16, static_batch=False, seed=7, lr=1e-3,
                       data=fashion_data((1, 28, 28)), module=BatchNorm, eval=True),
    "rnn_activations": dict(nn="tests/parity/rnn_activations.nn", batch=16, static_batch=False, seed=7, lr=1e-3,
                            data=fashion_data((28, 28)), module=RnnActivations),
    # clip 0.5: the gradient norms of these 5 steps are 1.1 to 2.5, so every
    # step clips (checked in main)
    "rmsprop": dict(nn="tests/parity/mlp_rmsprop.nn", batch=16, static_batch=False, seed=3, lr=1e-3,
                    data=fashion_data((784,)), module=lambda: Mlp(10), opt="rmsprop",
                    opt_args=dict(alpha=0.9, eps=1e-6, momentum=0.5), clip=0.5),
    "bce": dict(nn="tests/parity/mlp_bce.nn", batch=16, static_batch=False, seed=3, lr=1e-3,
                data=fashion_data((784,), binary=True), module=lambda: Mlp(1),
                loss=lambda z, y: F.binary_cross_entropy_with_logits(z[:, 0], y.to(z.dtype))),
    "huber": dict(nn="tests/parity/mlp_huber.nn", batch=16, static_batch=False, seed=3, lr=1e-2,
                  data=fashion_data((784,)), module=lambda: Mlp(1),
                  loss=lambda p, y: F.huber_loss(p[:, 0], y.to(p.dtype), delta=2.0)),
    "mae": dict(nn="tests/parity/mlp_mae.nn", batch=16, static_batch=False, seed=3, lr=1e-2,
                data=fashion_data((784,)), module=lambda: Mlp(1),
                loss=lambda p, y: F.l1_loss(p[:, 0], y.to(p.dtype))),
    # --qat: fake quantization, its straight-through gradient and the
    # observers (compared like batch norm's statistics, and in `eval`)
    "qat": dict(nn="tests/parity/mlp_qat.nn", batch=16, static_batch=False, seed=3, lr=1e-3,
                data=fashion_data((784,)), module=QatMlp, build=["--qat"], eval=True),
    "mha": dict(nn="tests/parity/mha_padded.nn", batch=8, static_batch=False, seed=7, lr=1e-3,
                data=token_sequences, module=Mha, exempt=MHA_EXEMPT),
    "mha_causal": dict(nn="tests/parity/mha_causal.nn", batch=8, static_batch=False, seed=7, lr=1e-3,
                       data=token_sequences, module=MhaCausal, exempt=MHA_EXEMPT),
}

# The optimizers: how to make one, and nnc's name for each of its state
# tensors (<param><suffix>); `root` is the step's denominator before eps, for
# the eps-conditioned elements.
OPTS = {
    "adam": dict(make=lambda params, lr, args: torch.optim.Adam(params, lr=lr, **args),
                 state={"exp_avg": ".m", "exp_avg_sq": ".v"},
                 root=lambda opt, st, step: (st["exp_avg_sq"] / (1 - opt.defaults["betas"][1]**step)).sqrt()),
    "rmsprop": dict(make=lambda params, lr, args: torch.optim.RMSprop(params, lr=lr, **args),
                    state={"square_avg": ".square_avg", "momentum_buffer": ".momentum"},
                    root=lambda opt, st, step: st["square_avg"].sqrt()),
}

# ---- running both ----


def run(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print("FAIL: %s exited %d: %s\n%s%s" % (what, p.returncode, " ".join(cmd), p.stdout, p.stderr))
        sys.exit(1)
    return p


def reverse_axes(t):
    """A torch tensor with its axes in reverse order: the transpose of a
    matrix, and [F, C, k] <-> [k, C, F] for a Conv1d weight."""
    return t.permute(*reversed(range(t.dim())))


def module_stats(module):
    """nnc name -> buffer of the layers' statistics (batch norm's running
    mean and variance), for modules that have them."""
    return module.stats() if hasattr(module, "stats") else {}


def train_torch(case, init, batches, x, y, dtype, test=None):
    """Loads init (nnc layout) and takes an optimizer step per batch. Returns
    the losses; nnc name -> array (nnc layout, float64) of each parameter and
    its optimizer state, and of each statistic; nnc name -> mask of each
    parameter's eps-conditioned elements (0 < sqrt(v_hat) < 1000 eps after
    some step); the loss on test = (x, y) in eval mode after training (or
    None); and the steps whose gradients the case's clip_norm did not clip."""
    module, lr = case["module"](), case["lr"]
    kind = OPTS[case.get("opt", "adam")]
    loss_fn = case.get("loss", lambda out, labels: F.cross_entropy(out, labels.long()))
    module = module.to(dtype)
    names = module.names()
    with torch.no_grad():
        for n, (p, t) in names.items():
            v = torch.from_numpy(init[n]).to(dtype)
            p.copy_(reverse_axes(v) if t else v)
        for n, b in module_stats(module).items():
            b.copy_(torch.from_numpy(init[n]).to(dtype))
    params = [p for p, _ in names.values()]
    opt = kind["make"](params, lr, case.get("opt_args", {}))
    eps = opt.defaults["eps"]
    losses, unclipped, cond = [], [], {n: torch.zeros_like(p, dtype=torch.bool) for n, (p, _) in names.items()}
    for step, idx in enumerate(batches, 1):
        opt.zero_grad()
        loss = loss_fn(module(torch.from_numpy(x[idx]).to(dtype)), torch.from_numpy(y[idx]))
        loss.backward()
        if case.get("clip"):
            norm = torch.nn.utils.clip_grad_norm_(params, case["clip"])
            if not norm > case["clip"]:
                unclipped.append(step)
        opt.step()
        losses.append(loss.item())
        for n, (p, _) in names.items():
            root = kind["root"](opt, opt.state[p], step)
            cond[n] |= (root > 0) & (root < 1000 * eps)

    def nnc_layout(t, transposed):
        t = t.detach().double()
        return (reverse_axes(t) if transposed else t).numpy()

    out = {}
    for n, (p, t) in names.items():
        out[n] = nnc_layout(p, t)
        for key, suffix in kind["state"].items():
            if key in opt.state[p]:  # RMSprop keeps no momentum buffer without momentum
                out[n + suffix] = nnc_layout(opt.state[p][key], t)
        cond[n] = nnc_layout(cond[n], t).astype(bool)
    out["opt.step"] = np.array(float(opt.state[params[0]]["step"]))
    for n, b in module_stats(module).items():
        out[n] = b.detach().double().numpy()
    test_loss = None
    if test is not None:
        module.eval()
        with torch.no_grad():
            test_loss = loss_fn(module(torch.from_numpy(test[0]).to(dtype)), torch.from_numpy(test[1])).item()
    return losses, out, cond, test_loss, unclipped


def rel_err(a, b, mask=None):
    """max |a - b| / max |b| over the elements mask selects (all: None), and
    the index of the worst; 0/0 is 0."""
    d = np.abs(a.astype(np.float64) - b)
    if mask is not None:
        d = np.where(mask, d, 0.0)
    scale = float(np.abs(b).max()) if b.size else 0.0
    at = np.unravel_index(int(d.argmax()), d.shape) if d.size else ()
    worst = float(d.max()) if d.size else 0.0
    return (worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)), at


def l2_err(a, b):
    num, den = float(np.linalg.norm(a.astype(np.float64) - b)), float(np.linalg.norm(b))
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nnc")
    ap.add_argument("src")
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--perturb", metavar="NAME")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep its files")
    opt = ap.parse_args()
    case = CASES[opt.case]
    torch.set_num_threads(1)
    tmp_obj = None if opt.keep else tempfile.TemporaryDirectory()
    tmp = opt.keep or tmp_obj.name
    os.makedirs(tmp, exist_ok=True)
    model_nn = os.path.join(opt.src, case["nn"])

    chk = subprocess.run([opt.nnc, "check", model_nn], capture_output=True, text=True)
    if chk.returncode and opt.case == "lstm" and "unknown function 'lstm'" in chk.stderr:
        print("SKIP: nnc has no lstm builtin yet:\n" + chk.stderr)
        return 77
    run([opt.nnc, "build", model_nn, "-o", os.path.join(tmp, "model")] + case.get("build", []), "nnc build")

    x, y, tx, ty = case["data"]()
    for n, a in (("train_x", x), ("train_y", y), ("test_x", tx), ("test_y", ty)):
        np.save(os.path.join(tmp, n + ".npy"), a)

    torch.manual_seed(case["seed"])
    module = case["module"]()
    init_path = os.path.join(tmp, "init.safetensors")
    names = module.names()
    init_tensors = {n: (reverse_axes(p.detach()) if t else p.detach()).numpy() for n, (p, t) in names.items()}
    init_tensors.update({n: b.detach().numpy() for n, b in module_stats(module).items()})
    save_safetensors(init_path, init_tensors)
    init = load_safetensors(init_path)  # what both sides start from
    torch_init = {n: a.copy() for n, a in init.items()}
    if opt.perturb:
        if opt.perturb not in torch_init:
            print("--perturb: no parameter %s; the parameters are %s" % (opt.perturb, ", ".join(torch_init)))
            return 2
        a = torch_init[opt.perturb].reshape(-1)
        a[a.size // 2] += 1e-3 * np.abs(a).max()
        print("perturbed: %s[%d] in PyTorch's initial weights, by 1e-3 of its scale" % (opt.perturb, a.size // 2))

    ckpt, log = os.path.join(tmp, "out.safetensors"), os.path.join(tmp, "log.csv")
    run([os.path.join(tmp, "model"), "train", "--data", tmp, "--init", init_path, "--steps", str(STEPS),
         "--epochs", str(STEPS), "--batch", str(case["batch"]), "--seed", str(case["seed"]), "--lr", repr(case["lr"]),
         "--val-split", "0", "--threads", "1", "--quiet", "--log", log, "--checkpoint", ckpt],
        "the nnc training binary")
    nnc_loss = [float(r.split(",")[3]) for r in open(log).read().splitlines() if r.startswith("step,")]
    got = load_safetensors(ckpt)

    batches = batch_order(len(x), case["batch"], STEPS, case["seed"], case["static_batch"])
    test = (tx, ty) if case.get("eval") else None
    t_loss, want, _, t_test, unclipped = train_torch(case, torch_init, batches, x, y, torch.float32, test)
    r_loss, ref, cond, _, _ = train_torch(case, torch_init, batches, x, y, torch.float64)
    if np.issubdtype(x.dtype, np.floating):
        # Exact cancellations: the float64 run again on inputs moved by
        # 1e-9 of themselves (far below float32 rounding, and zeros stay
        # zero), where a gradient that was 0 by cancellation becomes tiny.
        jitter = 1 + 1e-9 * np.random.default_rng(0).uniform(-1, 1, x.shape)
        _, _, cond_j, _, _ = train_torch(case, torch_init, batches, x * jitter, y, torch.float64)
        cond = {n: cond[n] | cond_j[n] for n in cond}

    print("%s: %s, batches of %d from %d samples, %d %s steps (lr %g%s) from the same weights\nbatches: %s" % (
        opt.case, case["nn"], case["batch"], len(x), STEPS, case.get("opt", "adam"), case["lr"],
        ", clip_norm %g" % case["clip"] if case.get("clip") else "",
        " ".join("[%s]" % ",".join(map(str, b)) for b in batches)))
    failures = []
    if unclipped:  # a clip that never acts would test nothing
        failures.append("clip_norm %g did not clip PyTorch's gradients at steps %s" % (case["clip"], unclipped))
    worst = {}

    def note(kind, e, what):
        if e >= worst.get(kind, (-1.0, ""))[0]:
            worst[kind] = (e, what)

    print("\nstep  nnc loss     torch loss   rel err   vs torch f64: nnc, torch")
    if len(nnc_loss) != STEPS:
        failures.append("the log has %d step rows, expected %d" % (len(nnc_loss), STEPS))
    for i, (a, b, r) in enumerate(zip(nnc_loss, t_loss, r_loss)):
        e = abs(a - b) / abs(b)
        print("%4d  %-12.7g %-12.7g %-9.1e %.1e, %.1e" % (i + 1, a, b, e, abs(a - r) / abs(r), abs(b - r) / abs(r)))
        note("loss", e, "step %d" % (i + 1))
        if not e <= TOL:
            failures.append("loss at step %d: nnc %.7g, torch %.7g, rel err %.2e" % (i + 1, a, b, e))

    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing:
        failures.append("nnc's checkpoint lacks " + ", ".join(missing))
    if extra:
        failures.append("no PyTorch counterpart for nnc's " + ", ".join(extra))
    print("\n%-16s %-10s %-8s %-13s %-12s %-12s %-8s %-13s %s" % (
        "tensor", "shape", "rel err", "worst at", "nnc", "torch", "L2 rel", "eps-cond: n,", "vs torch f64: nnc, torch"))
    print("%-16s %-10s %-8s %-13s %-12s %-12s %-8s %-13s" % ("", "", "", "", "", "", "", "max rel err"))
    literal = [0.0, 0.0, "", 0]  # over all parameter elements: nnc~torch, torch f32~f64, tensor, eps-cond count
    for n in got:
        if n not in want:
            continue
        a, b = got[n], want[n]
        if a.shape != b.shape:
            failures.append("%s: nnc shape %s, torch %s" % (n, list(a.shape), list(b.shape)))
            continue
        is_param = n in cond
        mask = ~cond[n] if is_param else None
        compared = np.ones(a.shape, bool)  # all but the case's exempt elements
        if is_param and n in case.get("exempt", {}):
            compared[case["exempt"][n]] = False
            mask &= compared
        e, at = rel_err(a, b, mask)
        l2 = l2_err(a[compared], b[compared]) if is_param else None
        cond_col = ""
        if is_param:
            all_e, _ = rel_err(a, b)
            torch_all = rel_err(b, ref[n])[0]
            cond_col = "%d, %.1e" % (int(cond[n].sum()), all_e)
            if all_e > literal[0]:
                literal[:3] = [all_e, literal[1], n]
            literal[1] = max(literal[1], torch_all)
            literal[3] += int(cond[n].sum())
        print("%-16s %-10s %-8s %-13s %-12.6g %-12.6g %-8s %-13s %.1e, %.1e" % (
            n, "x".join(map(str, a.shape)) or "scalar", "%.1e" % e, list(map(int, at)), a[at], b[at],
            "%.1e" % l2 if is_param else "", cond_col, rel_err(a, ref[n], mask)[0], rel_err(b, ref[n], mask)[0]))
        kind = ("param" if is_param else "opt.step" if n == "opt.step" else
                "statistic" if n.endswith((".running_mean", ".running_var", ".act_scale")) else "optimizer state")
        note(kind, e, n)
        if not e <= TOL:
            failures.append("%s: rel err %.2e at %s (nnc %.7g, torch %.7g)" % (n, e, list(map(int, at)), a[at], b[at]))
        if is_param:
            note("param L2", l2, n)
            if not l2 <= TOL:
                failures.append("%s: L2 rel err %.2e" % (n, l2))

    if t_test is not None:
        # eval mode (batch_norm: the running statistics): `eval` on the test
        # images from the checkpoint against the module in eval mode; eval
        # prints the loss to 4 decimals (5e-5 absolute).
        p = run([os.path.join(tmp, "model"), "eval", "--data", tmp, "--checkpoint", ckpt], "nnc eval")
        line = [l for l in p.stdout.splitlines() if l.startswith("test_loss: ")]
        e_loss = float(line[0].split()[1]) if line else math.nan
        e = abs(e_loss - t_test)
        print("\neval (test images, running statistics): nnc loss %.4f, torch %.7g, abs err %.1e" % (e_loss, t_test, e))
        note("eval loss", e, "eval")
        if not e <= 6e-5:
            failures.append("eval loss: nnc %.4f, torch %.7g" % (e_loss, t_test))

    print("\nmax relative error (gated at %g): " % TOL + ", ".join(
        "%s %.1e (%s)" % (k, v[0], v[1]) for k, v in worst.items()))
    print("parameters over all elements, the %d eps-conditioned ones included (not gated): nnc vs torch %.1e (%s); "
          "torch float32 vs float64 %.1e" % (literal[3], literal[0], literal[2], literal[1]))
    if opt.perturb:
        if failures:
            print("ok: the perturbation was caught (%d mismatches, first: %s)" % (len(failures), failures[0]))
            return 0
        print("FAIL: PyTorch started from perturbed weights, yet everything agreed within %g" % TOL)
        return 1
    if failures:
        print("FAIL: nnc and PyTorch disagree:\n  " + "\n  ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
