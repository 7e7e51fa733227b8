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
        int n = x.length;
        int d = x[0].length;
        double[] w = new double[d * classes];
        double[] b = new double[classes];
        double[] vw = new double[w.length];
        double[] vb = new double[classes];
        double momentum = 0.9;
        double[] z = new double[classes];
        for (int it = 0; it < iterations; it++) {
            double[] gw = new double[w.length];
            double[] gb = new double[classes];
            for (int i = 0; i < n; i++) {
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
}
