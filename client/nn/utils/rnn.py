"""torch.nn.utils.rnn's padding of variable-length sequences (PackedSequence and packing are not supported)."""
from __future__ import annotations

import gradwire as gw


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """The sequences (each (L_i, *)) stacked into (max L, B, *) or (B, max L, *), padded with padding_value."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.size(0) for s in sequences)
    rows = []
    for s in sequences:
        pad = gw.full((longest - s.size(0),) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
        rows.append(gw.cat([s, pad] if padding_side == "right" else [pad, s]))
    return gw.stack(rows, 0 if batch_first else 1)


__all__ = ["pad_sequence"]
