package dev.igate.explainer;

import java.util.Locale;

/**
 * Points and weights on [0, 1] for integrating along the straight path from baseline to input,
 * as Captum's {@code method} argument names them.
 *
 * @param alphas  path positions
 * @param weights their weights, summing to 1
 */
public record Quadrature(double[] alphas, double[] weights) {

    public static final String GAUSS_LEGENDRE = "gausslegendre";
    public static final String RIEMANN_TRAPEZOID = "riemann_trapezoid";

    /**
     * @throws IllegalArgumentException for an unknown method or fewer steps than the method needs
     */
    public static Quadrature of(String method, int steps) {
        return switch (method.toLowerCase(Locale.ROOT)) {
            case GAUSS_LEGENDRE -> gaussLegendre(steps);
            case RIEMANN_TRAPEZOID -> trapezoid(steps);
            default -> throw new IllegalArgumentException("Unknown method " + method + ", expected one of ["
                    + GAUSS_LEGENDRE + ", " + RIEMANN_TRAPEZOID + "]");
        };
    }

    /** Gauss–Legendre nodes by Newton's method on the Legendre polynomial, mapped from [-1, 1] to [0, 1]. */
    static Quadrature gaussLegendre(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n_steps must be at least 1");
        }
        double[] x = new double[n];
        double[] w = new double[n];
        for (int i = 0; i < (n + 1) / 2; i++) {
            double z = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            double derivative;
            for (int iteration = 0; ; iteration++) {
                double p1 = 1;
                double p2 = 0;
                for (int j = 1; j <= n; j++) {
                    double p3 = p2;
                    p2 = p1;
                    p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
                }
                derivative = n * (z * p1 - p2) / (z * z - 1);
                double previous = z;
                z = previous - p1 / derivative;
                if (Math.abs(z - previous) < 1e-15 || iteration > 100) {
                    break;
                }
            }
            x[i] = -z;
            x[n - 1 - i] = z;
            w[i] = 2 / ((1 - z * z) * derivative * derivative);
            w[n - 1 - i] = w[i];
        }
        double[] alphas = new double[n];
        double[] weights = new double[n];
        for (int i = 0; i < n; i++) {
            alphas[i] = (x[i] + 1) / 2;
            weights[i] = w[i] / 2;
        }
        return new Quadrature(alphas, weights);
    }

    /** The trapezoid rule on n evenly spaced points including both ends. */
    static Quadrature trapezoid(int n) {
        if (n < 2) {
            throw new IllegalArgumentException("riemann_trapezoid needs n_steps of at least 2");
        }
        double[] alphas = new double[n];
        double[] weights = new double[n];
        for (int i = 0; i < n; i++) {
            alphas[i] = (double) i / (n - 1);
            weights[i] = (i == 0 || i == n - 1 ? 0.5 : 1.0) / (n - 1);
        }
        return new Quadrature(alphas, weights);
    }
}
