"""Vocabulary trimming (the ERNIE 3.0 Tiny recipe): keep only the tokens the data uses.

WordPiece picks the longest vocabulary entry at each position, so removing entries that
the tokenizer never produced on the data cannot change how those texts tokenize: their
predictions stay identical, and the embedding table shrinks to the kept rows.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def tokens_to_keep(tokenizer, encoded_texts: list, min_count: int) -> list:
    """Ids of the special tokens and of every token seen at least ``min_count`` times, in vocab order."""
    counts = Counter(i for ids in encoded_texts for i in ids)
    special = {tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    return sorted(special | {i for i, n in counts.items() if n >= min_count})


def trim_vocabulary(model, tokenizer, keep_ids: list, out_dir):
    """Slice the word embeddings to ``keep_ids`` and write the matching vocab; returns the new tokenizer."""
    import paddle

    from ..models.families import word_embeddings_owner

    id_to_token = {i: t for t, i in tokenizer.vocab.token_to_idx.items()}
    new_vocab = [id_to_token[i] for i in keep_ids]
    vocab_file = Path(out_dir) / "trimmed_vocab.txt"  # save_pretrained copies it to vocab.txt
    vocab_file.write_text("\n".join(new_vocab) + "\n", encoding="utf-8")
    # the same WordPiece tokenizer class (ERNIE, BERT, RoBERTa-Chinese), over the kept tokens
    new_tokenizer = type(tokenizer)(vocab_file=str(vocab_file), do_lower_case=tokenizer.do_lower_case)

    embeddings = word_embeddings_owner(model)
    old = embeddings.word_embeddings
    table = paddle.to_tensor(old.weight.numpy()[keep_ids])
    pad_id = new_tokenizer.pad_token_id
    new = paddle.nn.Embedding(len(keep_ids), table.shape[1], padding_idx=pad_id)
    new.weight.set_value(table)
    embeddings.word_embeddings = new
    model.config.vocab_size = len(keep_ids)
    model.config.pad_token_id = pad_id
    return new_tokenizer
