"""The files of the demo's ML project: three stages, their parameters and the pipeline file.

The data set ships with scikit-learn (Wisconsin breast cancer, 569 rows), so the
demo needs no network. The scripts are plain Python that knows nothing of mlv.
"""

from __future__ import annotations

from pathlib import Path

PARAMS = """\
features:
  test_size: 0.25
  seed: 42
train:
  n_estimators: 40
  max_depth: 3
  seed: 0
"""

PIPELINE = """\
# The stage syntax of dvc.yaml: mlv reads either file.
stages:
  features:
    cmd: python src/features.py
    deps:
      - src/features.py
    params:
      - features
    outs:
      - data/features
  train:
    cmd: python src/train.py
    deps:
      - src/train.py
      - data/features/train.parquet
    params:
      - train
    outs:
      - models/model.pkl
  predict:
    cmd: python src/predict.py
    deps:
      - src/predict.py
      - models/model.pkl
      - data/features/test.parquet
    outs:
      - predictions/test.parquet
    metrics:
      - metrics.json
    plots:
      - plots/roc.csv
"""

FEATURES = '''\
"""Split the breast cancer data set into train and test feature tables (Parquet)."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))["features"]
data = load_breast_cancer(as_frame=False)
ids = list(range(len(data.target)))
train_ids, test_ids = train_test_split(
    ids, test_size=params["test_size"], random_state=params["seed"], stratify=data.target
)
out = Path("data/features")
out.mkdir(parents=True, exist_ok=True)
names = [n.replace(" ", "_") for n in data.feature_names]
for split, rows in (("train", train_ids), ("test", test_ids)):
    columns = {"id": pa.array(rows, pa.int64())}
    for j, name in enumerate(names):
        columns[name] = pa.array([float(data.data[i, j]) for i in rows])
    columns["label"] = pa.array([int(data.target[i]) for i in rows], pa.int8())
    pq.write_table(pa.table(columns), out / f"{split}.parquet")
print(f"features: {len(train_ids)} train rows, {len(test_ids)} test rows, {len(names)} features")
'''

TRAIN = '''\
"""Train a random forest on the training features."""

import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from sklearn.ensemble import RandomForestClassifier

params = yaml.safe_load(open("params.yaml"))["train"]
table = pq.read_table("data/features/train.parquet")
features = [c for c in table.column_names if c not in ("id", "label")]
x = np.column_stack([table[c].to_numpy() for c in features])
y = table["label"].to_numpy()
model = RandomForestClassifier(
    n_estimators=params["n_estimators"],
    max_depth=params["max_depth"],
    random_state=params["seed"],
    n_jobs=2,
)
model.fit(x, y)
Path("models").mkdir(exist_ok=True)
with open("models/model.pkl", "wb") as f:
    pickle.dump({"model": model, "features": features}, f)
print(f"train: {params['n_estimators']} trees of depth {params['max_depth']}")
'''

PREDICT = '''\
"""Score the test set: predictions as a Parquet table, metrics as JSON."""

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

with open("models/model.pkl", "rb") as f:
    saved = pickle.load(f)
model, features = saved["model"], saved["features"]
table = pq.read_table("data/features/test.parquet")
x = np.column_stack([table[c].to_numpy() for c in features])
y = table["label"].to_numpy()
# n_jobs=2 sums the trees' votes on two threads: the last bits of a score can
# change from run to run, which is what "close" in a reproduction is for.
proba = model.predict_proba(x)[:, 1]
label = (proba >= 0.5).astype(np.int8)
Path("predictions").mkdir(exist_ok=True)
pq.write_table(
    pa.table({"id": table["id"], "proba": pa.array(proba), "label": pa.array(label)}),
    "predictions/test.parquet",
)
metrics = {
    "accuracy": float(accuracy_score(y, label)),
    "f1": float(f1_score(y, label)),
    "roc_auc": float(roc_auc_score(y, proba)),
}
Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\\n")
# The ROC curve as a plot: false positive rate against true positive rate.
# Rounded first: the last bits of proba may move between runs (see above), ties must not.
fpr, tpr, _ = roc_curve(y, np.round(proba, 9))
Path("plots").mkdir(exist_ok=True)
Path("plots/roc.csv").write_text(
    "fpr,tpr\\n" + "".join(f"{a:.6f},{b:.6f}\\n" for a, b in zip(fpr, tpr))
)
print("predict: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
'''

FILES = {
    "params.yaml": PARAMS,
    "mlv.yaml": PIPELINE,
    "src/features.py": FEATURES,
    "src/train.py": TRAIN,
    "src/predict.py": PREDICT,
}


def write_project(root: Path) -> list[str]:
    """Write the project's files under ``root``; return their paths."""
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(FILES)


def missing_requirements() -> list[str]:
    """The packages the project's scripts need that this interpreter lacks."""
    from importlib.util import find_spec

    return [name for name in ("sklearn", "numpy", "yaml", "pyarrow") if find_spec(name) is None]
