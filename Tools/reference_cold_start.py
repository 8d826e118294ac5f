"""Independent numpy reference for the cold-start baselines' tests (Tests/CLLM4RecTests/ColdStartTests.swift).

TF-IDF as scikit-learn's TfidfVectorizer(token_pattern=r"[^\\W_]+", smooth_idf=True, norm="l2") computes it
(lower-cased runs of letters and digits; idf = ln((1 + N) / (1 + df)) + 1), a user's kNN score for an item the
mean cosine to the items of their history; and a ridge map Y ~ X W + b with penalty ridge * mean(diag(Xc'Xc)).
Prints the values the tests hold. Run: python3 Tools/reference_cold_start.py
"""
import re
import numpy as np

texts = ["Toy Story (1995). Genres: Animation, Children's, Comedy.",
         "GoldenEye (1995). Genres: Action, Adventure, Thriller.",
         "Four Rooms (1995). Genres: Thriller.",
         None,
         "Get Shorty (1995). Genres: Action, Comedy, Drama.",
         "Copycat (1995). Genres: Crime, Drama, Thriller."]
histories = [[0, 4], [1], [2, 5, 4]]

docs = [re.findall(r"[^\W_]+", t.lower()) if t else [] for t in texts]
vocab = sorted({w for d in docs for w in d})
n = sum(1 for d in docs if d)
tf = np.array([[d.count(w) for w in vocab] for d in docs], dtype=float)
df = (tf > 0).sum(0)
idf = np.log((1 + n) / (1 + df)) + 1
v = tf * idf
norms = np.linalg.norm(v, axis=1, keepdims=True)
v = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
for h in histories:
    s = (v @ v[h].T).mean(1)
    print("tfidf-knn", h, np.array2string(s, precision=8, separator=", ", floatmode="fixed"))

x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-0.75, 1.0, 0.0], [2.0, 2.0, 1.0], [0.1, -0.2, 0.3], [-1.0, 0.5, 1.5]], dtype=np.float32)
y = np.array([[1.0, -2.0], [0.5, 0.5], [-1.0, 1.5], [3.0, 0.0], [9.0, 9.0], [0.0, -1.0]], dtype=np.float32)
rows = [0, 1, 2, 3, 5]
X, Y = x[rows].astype(float), y[rows].astype(float)
mx, my = X.mean(0), Y.mean(0)
Xc, Yc = X - mx, Y - my
ridge = 0.5
a = Xc.T @ Xc
a += ridge * np.trace(a) / a.shape[0] * np.eye(a.shape[0])
w = np.linalg.solve(a, Xc.T @ Yc)
b = my - mx @ w
print("ridge map of row 4", np.array2string(x[4].astype(float) @ w + b, precision=8, separator=", ", floatmode="fixed"))
