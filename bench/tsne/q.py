import sys, numpy as np
sys.path.insert(0, '/work/tsne-dev/bench'); import compare
n = int(sys.argv[1]); y = np.load(sys.argv[2])
x = np.load(f'/work/tsne-dev/bench/data/clusters_{n}.npy'); lab = np.load(f'/work/tsne-dev/bench/data/clusters_{n}_labels.npy')
print(sys.argv[2], ["%.4f" % v for v in compare.quality(x, y, lab)])
