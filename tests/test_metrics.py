"""Metrics against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

import dlcore
from dlcore.metrics import accuracy, confusion_matrix, predicted_labels


def test_accuracy_from_logits_and_labels():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 4)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    expected = skm.accuracy_score(y, logits.argmax(1))
    assert accuracy(logits, y) == pytest.approx(expected)
    assert accuracy(dlcore.tensor(logits), dlcore.tensor(y)) == pytest.approx(expected)
    assert accuracy(logits.argmax(1), y) == pytest.approx(expected)
    assert accuracy(logits, np.eye(4)[y]) == pytest.approx(expected)  # one-hot targets


def test_accuracy_binary_probabilities_logits_and_pm1_targets():
    probs = np.array([[0.9], [0.2], [0.6], [0.4]])
    y01 = np.array([1, 0, 0, 0])
    assert accuracy(probs, y01) == 0.75
    assert accuracy(probs[:, 0], y01.astype(np.float32)) == 0.75
    assert accuracy(probs, np.array([1, -1, -1, -1])) == 0.75  # logistic-loss coding
    logits = np.array([3.0, -2.0, 0.5, -0.1])
    assert accuracy(logits, y01) == 0.75  # outside [0, 1]: read as logits
    assert accuracy(np.array([0.2, 0.3]), np.array([1, 1]), threshold=0.0) == 1.0


def test_predicted_labels_shapes():
    assert predicted_labels(np.array([[0.1, 0.9]])).tolist() == [1]
    with pytest.raises(ValueError):
        predicted_labels(np.zeros((2, 3, 4)))


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 5, 200)
    p = rng.integers(0, 5, 200)
    np.testing.assert_array_equal(confusion_matrix(t, p), skm.confusion_matrix(t, p))
    np.testing.assert_array_equal(confusion_matrix(t, p, num_classes=7),
                                  skm.confusion_matrix(t, p, labels=range(7)))
    scores = np.eye(5)[p] + 0.1
    np.testing.assert_array_equal(confusion_matrix(dlcore.tensor(t), scores), skm.confusion_matrix(t, p))
    np.testing.assert_array_equal(confusion_matrix(t, p.astype(np.float32)), skm.confusion_matrix(t, p))
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(t, p, num_classes=3)
    with pytest.raises(ValueError):
        confusion_matrix(t, p[:-1])
