"""MNIST with the reference CNN (two conv + max-pool blocks, two linear layers), SGD with momentum.

    python examples/mnist_cnn.py --epochs 8 --device cpu

Reads the IDX files from --data (default: $DLCORE_DATA, else ../shared/data/mnist next to the
repository); nothing is downloaded. Prints the time of every epoch, saves the first conv
layer's filters and the feature maps of one test digit as PNGs under --out, and ends with the
line ``test accuracy: 99.xx%``.
"""

import os
import time

import _common

import dlcore
import dlcore.functional as F
from dlcore.datasets import mnist
from dlcore.models import mnist_cnn
from dlcore.plot import show_feature_maps, show_filters
from dlcore.train import Callback, evaluate, fit


class EpochTimer(Callback):
    """Print one line per epoch with its wall time (fit's own summary goes to the logger)."""

    def on_epoch_end(self, run, epoch, logs):
        print(f"epoch {epoch}: loss {logs['loss']:.4f}, train acc {100 * logs['accuracy']:.2f}%, "
              f"test acc {100 * logs['val_accuracy']:.2f}%, lr {logs['lr']:.4g}, time {logs['time']:.1f} s",
              flush=True)


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=8, lr=0.02, batch_size=64)
    p.set_defaults(out=str(_common.ROOT / "runs" / "mnist_cnn"))
    default_data = os.environ.get("DLCORE_DATA") or str(_common.ROOT.parent / "shared" / "data" / "mnist")
    p.add_argument("--data", default=default_data, help=f"folder with the MNIST IDX files (default: {default_data})")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (default: 5e-4)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
    args = p.parse_args()
    dev = _common.setup(args)

    X_train, y_train = mnist(args.data, "train")  # (60000, 1, 28, 28) float32 in [0, 1]
    X_test, y_test = mnist(args.data, "test")
    if args.limit:
        X_train, y_train = X_train[:args.limit], y_train[:args.limit]
    mean, std = 0.1307, 0.3081  # the usual MNIST normalisation
    X_train = (X_train - mean) / std
    X_test = (X_test - mean) / std
    print(f"train {X_train.shape}, test {X_test.shape}", flush=True)

    model = mnist_cnn().to(dev)
    print(model, flush=True)
    optimizer = dlcore.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                 weight_decay=args.weight_decay)
    scheduler = dlcore.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    t0 = time.perf_counter()
    history = fit(model, F.cross_entropy, optimizer, (X_train, y_train), epochs=args.epochs,
                  batch_size=args.batch_size, val_data=(X_test, y_test), scheduler=scheduler, seed=args.seed,
                  callbacks=[EpochTimer()], progress=not args.no_progress)
    total = time.perf_counter() - t0
    times = history["time"]
    print(f"time per epoch: {sum(times) / len(times):.1f} s (mean of {len(times)}, including the test pass); "
          f"total {total:.0f} s", flush=True)

    print("saved", show_filters(model[0], _common.out_path(args, "filters_conv1.png"), title="conv1 filters"))
    print("saved", show_filters(model[3], _common.out_path(args, "filters_conv2.png"), title="conv2 filters (mean over inputs)"))
    print("saved", show_feature_maps(model, X_test[0], _common.out_path(args, "feature_maps.png"),
                                     title=f"feature maps of a test digit (label {int(y_test[0])})"))

    result = evaluate(model, (X_test, y_test), F.cross_entropy)
    print(f"test loss: {result['loss']:.4f}")
    _common.result("test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
