"""A classical reference for every report: character 1-2-gram TF-IDF + logistic regression.

Trained on the run's own train split in seconds (scikit-learn), its inverse regularisation
strength chosen on the dev split, scored on the test split the artifacts are scored on. A
Transformer that does not beat it has not earned its size, however well it compresses.
"""
from __future__ import annotations

import time

NAME = "tfidf_char_1_2gram_logreg"
DESCRIPTION = "char 1-2-gram TF-IDF + logistic regression (scikit-learn)"


def _features(vectorizer, examples):
    """A text's TF-IDF vector; for a sentence pair, both texts' vectors and their elementwise product
    (what the two share), side by side."""
    from scipy.sparse import hstack

    first = vectorizer.transform([e.text for e in examples])
    if examples[0].text_b is None:
        return first
    second = vectorizer.transform([e.text_b for e in examples])
    return hstack([first, second, first.multiply(second)]).tocsr()


def tfidf_logreg(splits, c_grid=(0.25, 1.0, 4.0, 16.0), seed: int = 0) -> dict:
    """Accuracy on the test split, with the C that did best on the dev split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.time()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    vectorizer.fit([t for e in splits.train for t in (e.text, e.text_b) if t is not None])
    train, dev, test = (_features(vectorizer, split) for split in (splits.train, splits.dev, splits.test))
    labels = {split: [e.label for e in getattr(splits, split)] for split in ("train", "dev", "test")}

    def fitted(c):
        return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(train, labels["train"])

    def accuracy(model, features, split) -> float:
        return float((model.predict(features) == labels[split]).mean())

    dev_accuracy = {c: accuracy(fitted(c), dev, "dev") for c in c_grid}
    best_c = max(c_grid, key=lambda c: (dev_accuracy[c], -c))
    return {"name": NAME, "description": DESCRIPTION, "accuracy": accuracy(fitted(best_c), test, "test"),
            "dev_accuracy": dev_accuracy[best_c], "c": best_c, "c_grid": list(c_grid),
            "features": train.shape[1], "train_texts": train.shape[0], "test_texts": test.shape[0],
            "seconds": round(time.time() - start, 1)}
