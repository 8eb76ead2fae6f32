"""A PyTorch reference scorer for Object2Vec (docs/object2vec.md): ``pip install sm_payloads[torch]``.

It produces outputs in the exact Object2Vec response schema from weights we control; it is
not bit-compatible with models trained by SageMaker (their MXNet internals are unpublished).

Architecture (the algorithm's hyperparameter names, ranges and defaults; docs/object2vec.md,
"Hyperparameters that shape the forward pass")::

    token embedding k  nn.Embedding(enc{k}_vocab_size, enc{k}_token_embedding_dim)
                       (tied_token_embedding_weight: encoder 1 reuses encoder 0's table)
    encoder k          pooled_embedding | hcnn | bilstm   (enc1_network="enc0": enc0's
                       architecture and hyperparameters, its own weights)
    comparator         comparator_list in order: hadamard u*v, concat [u, v], abs_diff |u-v|
    MLP                mlp_layers x (Linear(mlp_dim) + mlp_activation: linear | tanh | relu)
    output             softmax: softmax(Linear(num_classes)); mean_squared_error: Linear(1)

Choices the documentation leaves open (ours, documented in docs/object2vec.md):

* ``enc*_layers="auto"`` is `AUTO_LAYERS` (2) layers, for hcnn and bilstm alike.
* hcnn: each layer is ``relu(Conv1d(enc_dim, kernel=cnn_filter_width, padding="same"))``
  with the padded positions zeroed before and after every layer, then a max over time:
  output ``enc_dim`` values, all non-negative (as the documented embeddings are).
* bilstm: ``ceil(enc_dim / 2)`` hidden units per direction (packed sequences: padding never
  enters the recurrence), max over time of the concatenated directions, the first
  ``enc_dim`` values kept: output ``enc_dim`` values.
* pooled_embedding: the mean of the token embeddings, no projection: output
  ``enc*_token_embedding_dim`` values.
* Padding uses id 0 and is masked by *length*: an id 0 inside a request is an ordinary
  token. So a record's outputs do not depend on the other records of its batch.
* Sequences longer than ``enc{k}_max_seq_len`` (or the request's ``infer_max_seqlens``,
  which takes its place for that request) are truncated; only the kept tokens are checked
  against the vocabulary. An empty token list, an id outside ``[0, vocab_size)`` and a
  batch mixing pair and single-input records are `InstanceError`\\ s naming the record.
* ``INFERENCE_PREFERRED_MODE`` / `preferred_mode`: with an accelerator, the preferred
  network (``classification``: encoders + comparator + MLP + output; ``embedding``: the
  two encoders) sits on it and the other one on the CPU; without a preferred mode both sit
  on the accelerator; on a CPU both are on the CPU. The embedding network is a copy of the
  classifier's encoders with the same weights, so the outputs do not depend on the mode
  (bit for bit on one device; within float32 rounding between a GPU and the CPU).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..record import Ragged, RecordBatch
from . import INPUTS, MAX_SEQLEN, InstanceError

__all__ = ["AUTO_LAYERS", "FORMAT", "Object2VecScorer", "plan_placement", "validate_hyperparameters"]

#: Layers of an hcnn / bilstm encoder when ``enc*_layers`` is ``"auto"`` (our choice).
AUTO_LAYERS = 2
#: Tag of the files `Object2VecScorer.save` writes.
FORMAT = "sm_payloads.object2vec.torch/1"

Network = Literal["hcnn", "bilstm", "pooled_embedding"]
NETWORKS = ("hcnn", "bilstm", "pooled_embedding")
COMPARATORS = ("hadamard", "concat", "abs_diff")
ACTIVATIONS = ("linear", "tanh", "relu")
OUTPUT_LAYERS = ("softmax", "mean_squared_error")

# ======================================================================================
# Hyperparameters
# ======================================================================================

_INT_RANGES: dict[str, tuple[int, int]] = {
    "enc0_max_seq_len": (1, MAX_SEQLEN),
    "enc1_max_seq_len": (1, MAX_SEQLEN),
    "enc0_vocab_size": (2, 3_000_000),
    "enc1_vocab_size": (2, 3_000_000),
    "enc0_token_embedding_dim": (2, 1000),
    "enc1_token_embedding_dim": (2, 1000),
    "enc_dim": (4, 10000),
    "enc0_cnn_filter_width": (1, 9),
    "enc1_cnn_filter_width": (1, 9),
    "mlp_layers": (0, 10),
    "mlp_dim": (2, 10000),
    "num_classes": (2, 30),
    # training only: validated, then ignored
    "mini_batch_size": (1, 10000),
    "epochs": (1, 100),
    "early_stopping_patience": (1, 5),
    "bucket_width": (0, 100),
    "negative_sampling_rate": (0, 100),
}
_LAYER_RANGE = (1, 4)
_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "dropout": (0.0, 1.0),
    "early_stopping_tolerance": (1e-6, 0.1),
    "weight_decay": (0.0, 10000.0),
    "learning_rate": (1e-6, 1.0),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "enc0_network": NETWORKS,
    "enc1_network": ("enc0", *NETWORKS),
    "mlp_activation": ACTIVATIONS,
    "output_layer": OUTPUT_LAYERS,
    "optimizer": ("adagrad", "adam", "rmsprop", "sgd", "adadelta"),
    "token_embedding_storage_type": ("dense", "row_sparse"),
}
_BOOLS = (
    "tied_token_embedding_weight",
    "enc0_freeze_pretrained_embedding",
    "enc1_freeze_pretrained_embedding",
)
_FILES = (
    "enc0_pretrained_embedding_file",
    "enc1_pretrained_embedding_file",
    "enc0_vocab_file",
    "enc1_vocab_file",
)
_DEFAULTS: dict[str, Any] = {
    "enc0_network": "hcnn",
    "enc1_network": "enc0",
    "enc0_token_embedding_dim": 300,
    "enc_dim": 4096,
    "enc0_layers": "auto",
    "enc0_cnn_filter_width": 3,
    "tied_token_embedding_weight": False,
    "comparator_list": ["hadamard", "concat", "abs_diff"],
    "mlp_layers": 2,
    "mlp_dim": 512,
    "mlp_activation": "linear",
    "output_layer": "softmax",
    "num_classes": 2,
}
_KNOWN = frozenset(
    {
        *_INT_RANGES,
        *_FLOAT_RANGES,
        *_CHOICES,
        *_BOOLS,
        *_FILES,
        "enc0_layers",
        "enc1_layers",
        "comparator_list",
    }
)


def _int(name: str, v: object) -> int:
    lo, hi = _LAYER_RANGE if name.endswith("_layers") and name != "mlp_layers" else _INT_RANGES[name]
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= int(v) <= hi:
        raise ValueError(f"hyperparameter {name} must be an integer in [{lo}, {hi}], got {v!r}")
    return int(v)


def _float(name: str, v: object) -> float:
    lo, hi = _FLOAT_RANGES[name]
    try:
        f = float(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) else math.nan
    except ValueError:
        f = math.nan
    if not lo <= f <= hi:
        raise ValueError(f"hyperparameter {name} must be a float in [{lo}, {hi}], got {v!r}")
    return f


def _bool(name: str, v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise ValueError(f"hyperparameter {name} must be True or False, got {v!r}")


def _choice(name: str, v: object) -> str:
    options = _CHOICES[name]
    s = v.strip().lower() if isinstance(v, str) else v
    if s not in options:
        raise ValueError(f"hyperparameter {name} must be one of {', '.join(options)}, got {v!r}")
    return str(s)


def _layers(name: str, v: object) -> int | str:
    if isinstance(v, str) and v.strip().lower() == "auto":
        return "auto"
    try:
        return _int(name, v)
    except ValueError:
        raise ValueError(f"hyperparameter {name} must be 'auto' or an integer in [1, 4], got {v!r}") from None


def _comparators(v: object) -> list[str]:
    items: list[Any]
    if isinstance(v, str):
        items = [s.strip().lower() for s in v.split(",")]
    elif isinstance(v, (list, tuple)):
        items = [s.strip().lower() if isinstance(s, str) else s for s in v]
    else:
        items = [v]
    if not items or any(s not in COMPARATORS for s in items) or len(set(items)) != len(items):
        raise ValueError(
            "hyperparameter comparator_list must be a non-empty comma-separated list of distinct "
            f"{', '.join(COMPARATORS)}, got {v!r}"
        )
    return [str(s) for s in items]


def validate_hyperparameters(hyperparameters: Mapping[str, object]) -> dict[str, Any]:
    """Check the algorithm's hyperparameters (names, ranges, SageMaker's string values
    accepted) and return the forward-pass ones with every default filled in.

    ``enc0_max_seq_len`` and ``enc0_vocab_size`` are required; ``enc1_max_seq_len`` and
    ``enc1_vocab_size`` default to the ``enc0_*`` values; ``enc1_network="enc0"`` (the
    default) copies encoder 0's other settings, an explicit ``enc1_network`` takes the
    algorithm's defaults for those it does not set.
    Training-only names (``epochs``, ``dropout``, ``optimizer``, ...) are validated and
    left out; an unknown name is a ValueError (a typo would otherwise be silently ignored).
    """
    if not isinstance(hyperparameters, Mapping):
        raise TypeError(f"hyperparameters must be a mapping, not {type(hyperparameters).__name__}")
    hp: dict[str, Any] = {}
    for name, v in hyperparameters.items():
        if name not in _KNOWN:
            raise ValueError(f"unknown Object2Vec hyperparameter {name!r}")
        if name in ("enc0_layers", "enc1_layers"):
            hp[name] = _layers(name, v)
        elif name in _INT_RANGES:
            hp[name] = _int(name, v)
        elif name in _FLOAT_RANGES:
            _float(name, v)
        elif name in _CHOICES:
            hp[name] = _choice(name, v)
        elif name in _BOOLS:
            hp[name] = _bool(name, v)
        elif name == "comparator_list":
            hp[name] = _comparators(v)
        elif not isinstance(v, str):
            raise ValueError(f"hyperparameter {name} must be a string, got {v!r}")
    for required in ("enc0_max_seq_len", "enc0_vocab_size"):
        if required not in hp:
            lo, hi = _INT_RANGES[required]
            raise ValueError(f"hyperparameter {required} is required (an integer in [{lo}, {hi}])")
    out: dict[str, Any] = {
        "enc0_max_seq_len": hp["enc0_max_seq_len"],
        "enc0_vocab_size": hp["enc0_vocab_size"],
    }
    for name, default in _DEFAULTS.items():
        out[name] = hp.get(name, default)
    out["comparator_list"] = list(out["comparator_list"])
    same = out["enc1_network"] == "enc0"
    out["enc1_max_seq_len"] = hp.get("enc1_max_seq_len", out["enc0_max_seq_len"])
    out["enc1_vocab_size"] = hp.get("enc1_vocab_size", out["enc0_vocab_size"])
    for suffix in ("token_embedding_dim", "layers", "cnn_filter_width"):
        # enc1_network="enc0" copies encoder 0's settings; an explicit network has the
        # algorithm's own defaults (300, "auto", 3)
        out[f"enc1_{suffix}"] = (
            out[f"enc0_{suffix}"] if same else hp.get(f"enc1_{suffix}", _DEFAULTS[f"enc0_{suffix}"])
        )
    if same:
        for suffix in ("token_embedding_dim", "layers", "cnn_filter_width"):
            given = hp.get(f"enc1_{suffix}")
            if given is not None and given != out[f"enc0_{suffix}"]:
                raise ValueError(
                    f"hyperparameter enc1_{suffix}={given!r} contradicts enc1_network='enc0' "
                    f"(encoder 1 takes enc0_{suffix}={out[f'enc0_{suffix}']!r})"
                )
    if out["tied_token_embedding_weight"] and (
        out["enc0_vocab_size"] != out["enc1_vocab_size"]
        or out["enc0_token_embedding_dim"] != out["enc1_token_embedding_dim"]
    ):
        raise ValueError(
            "tied_token_embedding_weight=True needs enc0_vocab_size == enc1_vocab_size and "
            "enc0_token_embedding_dim == enc1_token_embedding_dim"
        )
    d0, d1 = _out_dim(out, 0), _out_dim(out, 1)
    if d0 != d1:
        raise ValueError(
            f"the two encodings must have the same dimension for the comparator; encoder 0 "
            f"({_network(out, 0)}) gives {d0} and encoder 1 ({_network(out, 1)}) gives {d1} "
            "(pooled_embedding gives enc*_token_embedding_dim, hcnn and bilstm give enc_dim)"
        )
    return out


def _network(hp: Mapping[str, Any], k: int) -> str:
    net = str(hp[f"enc{k}_network"])
    return str(hp["enc0_network"]) if net == "enc0" else net


def _out_dim(hp: Mapping[str, Any], k: int) -> int:
    if _network(hp, k) == "pooled_embedding":
        return int(hp[f"enc{k}_token_embedding_dim"])
    return int(hp["enc_dim"])


# ======================================================================================
# Modules
# ======================================================================================


class _Encoder(nn.Module):
    """One encoder over an embedding table (shared with the other encoder when tied)."""

    def __init__(self, network: str, embedding: nn.Embedding, enc_dim: int, layers: int, width: int) -> None:
        super().__init__()
        self.network = network
        self.embedding = embedding
        token_dim = embedding.embedding_dim
        self.convs = nn.ModuleList()
        self.lstm: nn.LSTM | None = None
        self.enc_dim = enc_dim
        if network == "hcnn":
            dims = [token_dim] + [enc_dim] * layers
            for a, b in itertools.pairwise(dims):
                self.convs.append(nn.Conv1d(a, b, kernel_size=width, padding="same"))
            self.out_dim = enc_dim
        elif network == "bilstm":
            hidden = (enc_dim + 1) // 2
            self.lstm = nn.LSTM(token_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True)
            self.out_dim = enc_dim
        else:
            self.out_dim = token_dim

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        mask = torch.arange(t, device=ids.device)[None, :] < lengths[:, None]  # [B, T]
        x: torch.Tensor = self.embedding(ids) * mask[..., None].to(torch.float32)  # [B, T, D]
        if self.network == "pooled_embedding":
            count = lengths.clamp(min=1).to(torch.float32)[:, None]
            return x.sum(dim=1) / count
        if self.network == "hcnn":
            m = mask[:, None, :].to(torch.float32)
            h = x.transpose(1, 2)  # [B, D, T]
            for conv in self.convs:
                y: torch.Tensor = conv(h)
                h = torch.relu(y) * m
            return h.amax(dim=2)  # every value is >= 0, so the zeroed padding never wins
        assert self.lstm is not None
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        seq, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        seq = seq.masked_fill(~mask[..., None], float("-inf"))
        return seq.amax(dim=1)[:, : self.enc_dim]


class _Encoders(nn.Module):
    """The encoder-embedding network: both encoders."""

    def __init__(self, hp: Mapping[str, Any]) -> None:
        super().__init__()
        tok0 = nn.Embedding(int(hp["enc0_vocab_size"]), int(hp["enc0_token_embedding_dim"]))
        if hp["tied_token_embedding_weight"]:
            tok1 = tok0
        else:
            tok1 = nn.Embedding(int(hp["enc1_vocab_size"]), int(hp["enc1_token_embedding_dim"]))
        encs = []
        for k, tok in ((0, tok0), (1, tok1)):
            layers = hp[f"enc{k}_layers"]
            encs.append(
                _Encoder(
                    _network(hp, k),
                    tok,
                    int(hp["enc_dim"]),
                    AUTO_LAYERS if layers == "auto" else int(layers),
                    int(hp[f"enc{k}_cnn_filter_width"]),
                )
            )
        self.enc0, self.enc1 = encs

    def forward(self, k: int, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        enc = self.enc0 if k == 0 else self.enc1
        out: torch.Tensor = enc(ids, lengths)
        return out


class _Classifier(nn.Module):
    """The classification / regression network: encoders, comparator, MLP, output layer."""

    def __init__(self, hp: Mapping[str, Any]) -> None:
        super().__init__()
        self.encoders = _Encoders(hp)
        self.comparators = list(hp["comparator_list"])
        self.softmax = hp["output_layer"] == "softmax"
        d = self.encoders.enc0.out_dim
        width = sum(2 * d if c == "concat" else d for c in self.comparators)
        act: dict[str, type[nn.Module]] = {"linear": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU}
        layers: list[nn.Module] = []
        for _ in range(int(hp["mlp_layers"])):
            layers += [nn.Linear(width, int(hp["mlp_dim"])), act[str(hp["mlp_activation"])]()]
            width = int(hp["mlp_dim"])
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(width, int(hp["num_classes"]) if self.softmax else 1)

    def forward(
        self, ids0: torch.Tensor, len0: torch.Tensor, ids1: torch.Tensor, len1: torch.Tensor
    ) -> torch.Tensor:
        u = self.encoders(0, ids0, len0)
        v = self.encoders(1, ids1, len1)
        parts: list[torch.Tensor] = []
        for c in self.comparators:
            if c == "hadamard":
                parts.append(u * v)
            elif c == "concat":
                parts += [u, v]
            else:
                parts.append((u - v).abs())
        logits: torch.Tensor = self.out(self.mlp(torch.cat(parts, dim=1)))
        return torch.softmax(logits, dim=1) if self.softmax else logits


# ======================================================================================
# Placement
# ======================================================================================


def plan_placement(device: str, preferred_mode: str | None) -> dict[str, str]:
    """Which device each network sits on: ``{"classification": ..., "embedding": ...}``.

    With an accelerator `device` (anything but ``cpu``) and a preferred mode, that mode's
    network gets the accelerator and the other the CPU (``INFERENCE_PREFERRED_MODE``, "due
    to GPU memory scarcity"); with no preferred mode both get it. On a CPU both are on
    the CPU.

    >>> plan_placement("cuda", "classification")
    {'classification': 'cuda', 'embedding': 'cpu'}
    >>> plan_placement("cpu", "embedding")
    {'classification': 'cpu', 'embedding': 'cpu'}
    """
    if preferred_mode not in (None, "classification", "embedding"):
        raise ValueError(
            f"preferred_mode must be 'classification', 'embedding' or None, got {preferred_mode!r}"
        )
    accel = torch.device(device).type != "cpu"
    if not accel:
        return {"classification": "cpu", "embedding": "cpu"}
    if preferred_mode is None:
        return {"classification": device, "embedding": device}
    other = "embedding" if preferred_mode == "classification" else "classification"
    return {preferred_mode: device, other: "cpu"}


# ======================================================================================
# The scorer
# ======================================================================================


@dataclass
class _Side:
    """One input of a chunk of records, padded: ids [B, T] (0 = padding), lengths [B]."""

    ids: NDArray[np.int64]
    lengths: NDArray[np.int64]


def _as_ragged(col: Any, key: str) -> Ragged:
    if isinstance(col, Ragged):
        return col
    if isinstance(col, np.ndarray) and col.ndim == 2 and col.dtype.kind in "iu":
        n, k = col.shape
        return Ragged(col.reshape(-1), np.arange(n + 1, dtype=np.int64) * k)
    raise InstanceError(f"features[{key!r}] must be a Ragged column or an (N, k) integer array of token ids")


class Object2VecScorer:
    """A reference Object2Vec model: decoded requests in, response batches out.

    Parameters
    ----------
    hyperparameters : mapping
        The algorithm's names and ranges (`validate_hyperparameters`); a bad value is a
        ValueError naming the hyperparameter and its range.
    seed : int
        Weights are drawn on the CPU from this seed: the same seed gives the same
        weights (and, on the CPU, the same outputs) every time.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    preferred_mode : str, optional
        ``"classification"`` or ``"embedding"`` (see `plan_placement`); read it from the
        environment with `sm_payloads.object2vec.parse_preferred_mode`.
    max_batch_records : int
        Records run through a network at once (bounds memory for long sequences).
    """

    def __init__(
        self,
        hyperparameters: Mapping[str, object],
        *,
        seed: int = 0,
        device: str | None = None,
        preferred_mode: str | None = None,
        max_batch_records: int = 1024,
    ) -> None:
        self.hyperparameters = validate_hyperparameters(hyperparameters)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if (
            isinstance(max_batch_records, bool)
            or not isinstance(max_batch_records, int)
            or max_batch_records < 1
        ):
            raise ValueError(f"max_batch_records must be a positive int, got {max_batch_records!r}")
        self.seed = seed
        self.max_batch_records = max_batch_records
        self.device = device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        self.preferred_mode = preferred_mode
        self.placement = plan_placement(self.device, preferred_mode)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            classifier = _Classifier(self.hyperparameters)
        self._place(classifier)

    def _place(self, classifier: _Classifier) -> None:
        """Put the networks (built on the CPU) where `placement` says. The embedding
        network is the classifier's encoders, or a copy of them on another device."""
        classifier.eval()
        embedder: _Encoders
        if self.placement["embedding"] == self.placement["classification"]:
            self._classifier = classifier.to(self.placement["classification"])
            embedder = self._classifier.encoders
        else:
            embedder = copy.deepcopy(classifier.encoders).to(self.placement["embedding"])
            self._classifier = classifier.to(self.placement["classification"])
        self._embedder = embedder.eval()

    def parameter_devices(self) -> dict[str, set[str]]:
        """The devices the parameters of each network actually sit on."""
        return {
            "classification": {str(p.device) for p in self._classifier.parameters()},
            "embedding": {str(p.device) for p in self._embedder.parameters()},
        }

    @property
    def embedding_dims(self) -> tuple[int, int]:
        """Length of an embedding from encoder 0 and from encoder 1."""
        return _out_dim(self.hyperparameters, 0), _out_dim(self.hyperparameters, 1)

    @property
    def num_scores(self) -> int:
        """Length of ``scores``: ``num_classes`` (softmax) or 1 (mean_squared_error)."""
        hp = self.hyperparameters
        return int(hp["num_classes"]) if hp["output_layer"] == "softmax" else 1

    # -- input preparation --------------------------------------------------------------

    def _inputs(
        self, batch: RecordBatch, infer_max_seqlens: tuple[int, int] | None
    ) -> tuple[list[Ragged | None], NDArray[np.bool_], NDArray[np.bool_], tuple[int, int]]:
        if not isinstance(batch, RecordBatch):
            raise TypeError(f"score takes a RecordBatch, not {type(batch).__name__}")
        n = len(batch)
        for key in batch.features:
            if key not in INPUTS:
                raise InstanceError(f"unexpected input features[{key!r}]; Object2Vec reads in0 and in1")
        cols: list[Ragged | None] = []
        has: list[NDArray[np.bool_]] = []
        for key in INPUTS:
            if key in batch.features:
                col = _as_ragged(batch.features[key], key)
                cols.append(col)
                has.append(np.ones(n, bool) if col.valid is None else np.asarray(col.valid, bool))
            else:
                cols.append(None)
                has.append(np.zeros(n, bool))
        if infer_max_seqlens is None:
            hp = self.hyperparameters
            limits = (int(hp["enc0_max_seq_len"]), int(hp["enc1_max_seq_len"]))
        else:
            a, b = infer_max_seqlens
            for v in (a, b):
                if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SEQLEN:
                    raise ValueError(
                        f"infer_max_seqlens values must be ints in 1..{MAX_SEQLEN}, got {infer_max_seqlens!r}"
                    )
            limits = (a, b)
        return cols, has[0], has[1], limits

    def _side(self, col: Ragged, k: int, rows: NDArray[np.int64], limit: int, first: int) -> _Side:
        """Padded, truncated, vocabulary-checked token ids of records `rows` of `col`."""
        vocab = int(self.hyperparameters[f"enc{k}_vocab_size"])
        key = INPUTS[k]
        offsets = col.offsets
        starts = offsets[rows]
        full = offsets[rows + 1] - starts
        if (full == 0).any():
            i = int(rows[np.flatnonzero(full == 0)[0]])
            raise InstanceError(f"{key} is an empty token list", record_index=first + i, input=key)
        lengths = np.minimum(full, limit)
        total = int(lengths.sum())
        b = rows.size
        t = int(lengths.max()) if b else 1
        row = np.repeat(np.arange(b), lengths)
        pos = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        vals = col.values[starts[row] + pos].astype(np.int64)
        bad = (vals < 0) | (vals >= vocab)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InstanceError(
                f"{key}[{int(pos[j])}]: token id {int(vals[j])} is outside the vocabulary [0, {vocab}) "
                f"(enc{k}_vocab_size={vocab})",
                record_index=first + int(rows[row[j]]),
                input=key,
                position=int(pos[j]),
            )
        ids = np.zeros((b, t), dtype=np.int64)
        ids[row, pos] = vals
        return _Side(ids, lengths.astype(np.int64))

    # -- scoring ------------------------------------------------------------------------

    def score(
        self, batch: RecordBatch, *, infer_max_seqlens: tuple[int, int] | None = None, first_index: int = 0
    ) -> RecordBatch:
        """Score a decoded request.

        Records with both ``in0`` and ``in1`` give ``label["scores"]`` ``(N, num_classes)``
        (softmax probabilities) or ``(N, 1)`` (regression); records with only one input
        give ``label["embeddings"]`` from that input's encoder. All float32.

        Raises
        ------
        InstanceError
            An empty token list, an id outside the vocabulary, records of both kinds in
            one batch, a record with no input, or embeddings of different lengths (only
            ``in0`` in some records, only ``in1`` in others, with encoders of different
            output sizes). `record_index` (offset by `first_index`) names the record.
        """
        cols, has0, has1, limits = self._inputs(batch, infer_max_seqlens)
        n = len(batch)
        pair = has0 & has1
        if n == 0 or pair.all():
            return self._scores(cols, limits, first_index, n)
        neither = ~(has0 | has1)
        if neither.any():
            raise InstanceError(
                "a record needs in0, in1 or both", record_index=first_index + int(np.flatnonzero(neither)[0])
            )
        if pair.any():
            i = int(np.flatnonzero(pair != pair[0])[0])
            raise InstanceError(
                "a batch mixes pairs (in0 and in1: scores) with single inputs (embeddings); "
                f"record 0 {'is a pair' if pair[0] else 'has one input'} and this one "
                f"{'is a pair' if pair[i] else 'has one input'}",
                record_index=first_index + i,
            )
        return self._embeddings(cols, has0, limits, first_index, n)

    def _tensor(self, a: NDArray[np.int64], device: str) -> torch.Tensor:
        return torch.from_numpy(a).to(device)

    def _scores(self, cols: list[Ragged | None], limits: tuple[int, int], first: int, n: int) -> RecordBatch:
        out = np.empty((n, self.num_scores), dtype=np.float32)
        dev = self.placement["classification"]
        c0, c1 = cols
        with torch.inference_mode():
            for lo in range(0, n, self.max_batch_records):
                rows = np.arange(lo, min(n, lo + self.max_batch_records), dtype=np.int64)
                assert c0 is not None and c1 is not None
                s0 = self._side(c0, 0, rows, limits[0], first)
                s1 = self._side(c1, 1, rows, limits[1], first)
                res = self._classifier(
                    self._tensor(s0.ids, dev),
                    self._tensor(s0.lengths, dev),
                    self._tensor(s1.ids, dev),
                    self._tensor(s1.lengths, dev),
                )
                out[rows[0] : rows[-1] + 1] = res.detach().to("cpu", torch.float32).numpy()
        return RecordBatch(label={"scores": out}, n=n)

    def _embeddings(
        self, cols: list[Ragged | None], has0: NDArray[np.bool_], limits: tuple[int, int], first: int, n: int
    ) -> RecordBatch:
        d0, d1 = self.embedding_dims
        which = [np.flatnonzero(has0).astype(np.int64), np.flatnonzero(~has0).astype(np.int64)]
        if which[0].size and which[1].size and d0 != d1:
            i = int(max(which[0][0], which[1][0]))  # the first record of the second kind
            raise InstanceError(
                f"embeddings of different lengths in one batch: encoder 0 gives {d0} values and "
                f"encoder 1 gives {d1}; send in0-only and in1-only records in separate requests",
                record_index=first + i,
            )
        dim = d0 if which[0].size else d1
        out = np.empty((n, dim), dtype=np.float32)
        dev = self.placement["embedding"]
        with torch.inference_mode():
            for k in (0, 1):
                col = cols[k]
                idx = which[k]
                for lo in range(0, idx.size, self.max_batch_records):
                    rows = idx[lo : lo + self.max_batch_records]
                    assert col is not None
                    side = self._side(col, k, rows, limits[k], first)
                    res = self._embedder(k, self._tensor(side.ids, dev), self._tensor(side.lengths, dev))
                    out[rows] = res.detach().to("cpu", torch.float32).numpy()
        return RecordBatch(label={"embeddings": out}, n=n)

    # -- persistence --------------------------------------------------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights (on the CPU), keyed as the classification network names them."""
        return {k: v.detach().to("cpu").clone() for k, v in self._classifier.state_dict().items()}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the hyperparameters, the seed and the weights to `path` (``torch.save``)."""
        torch.save(
            {
                "format": FORMAT,
                "hyperparameters": self.hyperparameters,
                "seed": self.seed,
                "state_dict": self.state_dict(),
            },
            path,
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str | None = None,
        preferred_mode: str | None = None,
        max_batch_records: int = 1024,
    ) -> Object2VecScorer:
        """Read a file written by `save` (``weights_only`` loading: no code runs)."""
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not an Object2VecScorer file ({FORMAT})")
        scorer = cls(
            data["hyperparameters"],
            seed=int(data["seed"]),
            device="cpu",
            max_batch_records=max_batch_records,
        )
        classifier = scorer._classifier
        classifier.load_state_dict(data["state_dict"])
        scorer.device = device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        scorer.preferred_mode = preferred_mode
        scorer.placement = plan_placement(scorer.device, preferred_mode)
        scorer._place(classifier)
        return scorer

    def __repr__(self) -> str:
        hp = self.hyperparameters
        return (
            f"Object2VecScorer(enc0={_network(hp, 0)}, enc1={_network(hp, 1)}, "
            f"output_layer={hp['output_layer']}, placement={self.placement})"
        )
