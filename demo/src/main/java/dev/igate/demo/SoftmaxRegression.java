package dev.igate.demo;

/**
 * Multinomial logistic regression trained by full-batch gradient descent with momentum and an
 * L2 penalty. Deterministic: zero initial weights, fixed step count, double precision.
 */
public final class SoftmaxRegression {

    /** Trained weights: {@code weights[feature * classes + class]} and {@code bias[class]}. */
    public record Weights(int features, int classes, float[] weights, float[] bias) {

        public float[] logits(float[] x) {
            float[] z = bias.clone();
            for (int f = 0; f < features; f++) {
                for (int c = 0; c < classes; c++) {
                    z[c] += x[f] * weights[f * classes + c];
                }
            }
            return z;
        }

        public int predict(float[] x) {
            float[] z = logits(x);
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (z[c] > z[best]) {
                    best = c;
                }
            }
            return best;
        }
    }

    private SoftmaxRegression() {
    }

    /**
     * @param x          rows of features
     * @param y          class of each row
     * @param classes    number of classes
     * @param l2         penalty on the weights (not the bias)
     * @param iterations gradient steps
     * @param step       learning rate
     */
    public static Weights train(float[][] x, int[] y, int classes, double l2, int iterations, double step) {
        return train(x, y, classes, l2, iterations, step, x.length);
    }

    /**
     * As {@link #train(float[][], int[], int, double, int, double)}, the gradient summed over chunks
     * of {@code chunk} rows computed in parallel and added in chunk order: the same weights on any
     * number of cores (one chunk of all rows is the sequential sum).
     */
    public static Weights train(float[][] x, int[] y, int classes, double l2, int iterations, double step, int chunk) {
        int n = x.length;
        int d = x[0].length;
        double[] w = new double[d * classes];
        double[] b = new double[classes];
        double[] vw = new double[w.length];
        double[] vb = new double[classes];
        double momentum = 0.9;
        int chunks = (n + chunk - 1) / chunk;
        double[][] gws = new double[chunks][w.length];
        double[][] gbs = new double[chunks][classes];
        for (int it = 0; it < iterations; it++) {
            java.util.stream.IntStream.range(0, chunks).parallel().forEach(k -> {
                java.util.Arrays.fill(gws[k], 0);
                java.util.Arrays.fill(gbs[k], 0);
                gradient(x, y, k * chunk, Math.min(n, (k + 1) * chunk), classes, w, b, gws[k], gbs[k]);
            });
            double[] gw = gws[0];
            double[] gb = gbs[0];
            for (int k = 1; k < chunks; k++) {
                for (int j = 0; j < gw.length; j++) {
                    gw[j] += gws[k][j];
                }
                for (int c = 0; c < classes; c++) {
                    gb[c] += gbs[k][c];
                }
            }
            for (int k = 0; k < w.length; k++) {
                vw[k] = momentum * vw[k] - step * (gw[k] + l2 * w[k]);
                w[k] += vw[k];
            }
            for (int c = 0; c < classes; c++) {
                vb[c] = momentum * vb[c] - step * gb[c];
                b[c] += vb[c];
            }
        }
        float[] wf = new float[w.length];
        for (int k = 0; k < w.length; k++) {
            wf[k] = (float) w[k];
        }
        float[] bf = new float[classes];
        for (int c = 0; c < classes; c++) {
            bf[c] = (float) b[c];
        }
        return new Weights(d, classes, wf, bf);
    }
    /** Adds the mean cross-entropy gradient of rows {@code [from, to)} to {@code gw} and {@code gb}. */
    private static void gradient(float[][] x, int[] y, int from, int to, int classes, double[] w, double[] b, double[] gw,
                                 double[] gb) {
        int n = x.length;
        int d = x[0].length;
        double[] z = new double[classes];
        for (int i = from; i < to; i++) {
            float[] xi = x[i];
            System.arraycopy(b, 0, z, 0, classes);
            for (int f = 0; f < d; f++) {
                double v = xi[f];
                int o = f * classes;
                for (int c = 0; c < classes; c++) {
                    z[c] += v * w[o + c];
                }
            }
            double max = Double.NEGATIVE_INFINITY;
            for (double v : z) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                z[c] = Math.exp(z[c] - max);
                sum += z[c];
            }
            for (int c = 0; c < classes; c++) {
                double g = z[c] / sum - (c == y[i] ? 1 : 0);
                gb[c] += g / n;
                z[c] = g / n;
            }
            for (int f = 0; f < d; f++) {
                double v = xi[f];
                int o = f * classes;
                for (int c = 0; c < classes; c++) {
                    gw[o + c] += v * z[c];
                }
            }
        }
    }
}
